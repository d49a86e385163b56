//! One transfer's output on disk: the received file, its `.debug` log, the reception
//! figures, and the `.report` written when the machine gives its verdict.
//!
//! Durability (D61, D65): data is received into `<name>.part`; the transfer's journal
//! beside it records, after each fsync of the `.part`, which segments are durable (every
//! 4 MiB written, 1 s after the oldest unrecorded write, and at the end). Only a verified
//! file is renamed to its final name ([`TransferOutput::publish`]); anything else keeps
//! its `.part` and journal, to be resumed.
//!
//! The `.part`, its spool and its journal live in the store `PlatformConfig::store_fs`
//! (D115); the `.debug`, the `.report` and the MP4 copy are the operating system's files.

use super::resume::{Attempts, Resumable};
use crate::session::{TransferOutcome, TransferStatus};
use crate::store::durable_fs::{StoreFile, StoreFs};
use crate::store::journal::{
    self, DurabilityPolicy, FileIdentity, JournalPaths, JournalRecord, RequestedAs, SegmentRanges,
    TransferJournal, TransferParams, JOURNAL_VERSION,
};
use crate::store::{
    DebugLog, DiskBudget, FinishedFile, Holding, OutputPaths, Placement, ReceivedFile,
    ReceptionFigures, ReceptionReport, ReceptionStats, SegmentKind, SegmentRecord,
};
use crate::wire::{FileRequestAck, SegmentHeader};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Where a stream task writes a fixed-size segment itself: the file, the segment's offset,
/// and the disk budget to charge.
pub(super) struct DirectTarget {
    pub(super) file: Arc<dyn StoreFile>,
    pub(super) offset: u64,
    pub(super) budget: Option<Arc<DiskBudget>>,
}

/// The file the report names: the received file, or, when `--container mp4` removed it
/// once its playable copy was final (D76), the copy.
fn output_path(fs: &dyn StoreFs, raw: &Path) -> std::path::PathBuf {
    let copy = crate::store::container::mp4_path(raw);
    if fs.file_len(raw).is_err() && copy.exists() {
        copy
    } else {
        raw.to_path_buf()
    }
}

/// The AAC track of a demuxed transfer, from its acknowledgement (D77); `None` when it has
/// none or its `config` is not base64 (then the audio is dropped, the video kept).
fn demuxed_audio(demuxed: &crate::wire::DemuxedSource) -> Option<crate::media::fmp4::AudioTrack> {
    let audio = demuxed.audio.as_ref().filter(|a| a.codec == "aac")?;
    Some(crate::media::fmp4::AudioTrack {
        audio_specific_config: audio.config_bytes()?,
        sample_rate: audio.sample_rate,
        channels: audio.channels,
    })
}

/// Bookkeeping of one transfer being received.
pub(super) struct TransferOutput {
    /// Where the `.part` and the journal are (D115).
    fs: Arc<dyn StoreFs>,
    pub(super) ack: FileRequestAck,
    pub(super) paths: OutputPaths,
    file: Option<ReceivedFile>,
    debug: DebugLog,
    stats: ReceptionStats,
    journal: TransferJournal,
    /// Breaks and bytes received twice, over every attempt of this file.
    pub(super) attempts: Attempts,
    /// When the file was first requested (kept across attempts).
    requested: (Instant, SystemTime),
    /// The container wants the MP4 copy alone: the raw file goes once verified.
    drop_raw: bool,
}

fn journal_error(e: journal::JournalError) -> io::Error {
    match e {
        journal::JournalError::Io { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}

/// The wall clock in milliseconds since the Unix epoch (the journal's `updated_unix_ms`).
pub(super) fn unix_ms() -> u64 {
    crate::net::system_time()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The output paths of a received file whose final name is `final_path`.
fn paths_of(final_path: &Path) -> OutputPaths {
    let with = |suffix: &str| {
        let mut name = final_path.as_os_str().to_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    OutputPaths {
        file: final_path.to_path_buf(),
        debug: with(".debug"),
        report: with(".report"),
    }
}

/// `path` (a `.debug`), its folder made on the operating system's files: the store
/// (D115) may be another filesystem.
fn os_folder_for(path: &Path) -> io::Result<&Path> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    Ok(path)
}

/// The first journal record of a new transfer.
fn first_record(
    ack: &FileRequestAck,
    session_id: &str,
    device_id: Option<String>,
) -> JournalRecord {
    JournalRecord {
        version: JOURNAL_VERSION,
        file: FileIdentity {
            path: ack.file_path.clone(),
            size: ack.file_size,
            checksum: ack.checksum.clone().unwrap_or_default(),
        },
        transfer: TransferParams {
            session_id: session_id.to_string(),
            transfer_id: ack.transfer_id.to_string(),
            segment_mode: ack.segment_mode.name().to_string(),
            segment_size: ack.segment_size,
            total_segments: ack.total_segments,
            start_segment: ack.start_segment,
        },
        held: SegmentRanges::new(),
        durable_prefix: 0,
        updated_unix_ms: unix_ms(),
        device_id,
        requested_as: None,
    }
}

/// Why a resumed acknowledgement does not fit its journal: the client's file changed.
fn mismatch(ack: &FileRequestAck, record: &JournalRecord) -> Option<String> {
    let same_checksum = match (&ack.checksum, record.file.checksum.as_str()) {
        (Some(theirs), ours) if !ours.is_empty() => *theirs == ours,
        _ => true,
    };
    let fits = ack.file_size == record.file.size
        && ack.total_segments == record.transfer.total_segments
        && ack.segment_size == record.transfer.segment_size
        && same_checksum;
    (!fits).then(|| {
        format!(
            "{} changed at the client since the transfer broke ({} bytes, {:?}; the journal has {} bytes, {})",
            ack.file_path, ack.file_size, ack.checksum, record.file.size, record.file.checksum
        )
    })
}

impl TransferOutput {
    /// Creates `<name>.part`, its journal and its `.debug` under `out_dir/<session>/`.
    pub(super) fn open(
        (fs, out_dir): (Arc<dyn StoreFs>, &Path),
        (session_id, device_id): (&str, Option<String>),
        (ack, placement): (FileRequestAck, Placement),
        budget: Option<Arc<DiskBudget>>,
        (requested, requested_as): ((Instant, SystemTime), Option<RequestedAs>),
    ) -> io::Result<Self> {
        let paths = OutputPaths::new(out_dir, session_id, &ack.file_path);
        let jpaths = JournalPaths::new(&paths.file);
        let mut file =
            ReceivedFile::create_in(Arc::clone(&fs), &jpaths.part, placement, ack.start_segment)?;
        file.set_final_path(&paths.file);
        file.set_budget(budget);
        let mut record = first_record(&ack, session_id, device_id);
        record.requested_as = requested_as;
        journal::write_record(&*fs, &jpaths, &record).map_err(journal_error)?;
        let debug = DebugLog::create(os_folder_for(&paths.debug)?)?;
        Ok(TransferOutput {
            fs,
            ack,
            paths,
            file: Some(file),
            debug,
            stats: ReceptionStats::new(requested.0, requested.1),
            journal: TransferJournal::new(jpaths, record, DurabilityPolicy::default()),
            attempts: Attempts::default(),
            requested,
            drop_raw: false,
        })
    }

    /// Opens the `.part` of an unfinished transfer again for its resumed acknowledgement
    /// (D64): what the journal holds is kept; the ack must describe the same file.
    pub(super) fn resume(
        fs: Arc<dyn StoreFs>,
        entry: &Resumable,
        session_id: &str,
        (ack, placement): (FileRequestAck, Placement),
        budget: Option<Arc<DiskBudget>>,
    ) -> io::Result<Self> {
        if let Some(why) = mismatch(&ack, &entry.record) {
            return Err(io::Error::other(why));
        }
        let record = &entry.record;
        let jpaths = entry.paths.clone();
        let holding = Holding {
            held: &record.held,
            durable_prefix: record.durable_prefix,
            file_size: record.file.size,
        };
        let first = record.transfer.start_segment;
        let reopened =
            ReceivedFile::reopen(Arc::clone(&fs), &jpaths.part, placement, first, holding);
        let mut file = match reopened {
            Err(e) if e.kind() == io::ErrorKind::NotFound && record.held.count() == 0 => {
                ReceivedFile::create_in(Arc::clone(&fs), &jpaths.part, placement, first)?
            }
            other => other?,
        };
        file.set_final_path(&jpaths.final_path);
        file.set_budget(budget);
        let mut record = record.clone();
        record.transfer.session_id = session_id.to_string();
        record.transfer.transfer_id = ack.transfer_id.to_string();
        if record.file.checksum.is_empty() {
            record.file.checksum = ack.checksum.clone().unwrap_or_default();
        }
        record.updated_unix_ms = unix_ms();
        journal::write_record(&*fs, &jpaths, &record).map_err(journal_error)?;
        let paths = paths_of(&jpaths.final_path);
        let debug = DebugLog::append(os_folder_for(&paths.debug)?)?;
        let mut attempts = entry.attempts.clone();
        attempts.resumed += 1;
        Ok(TransferOutput {
            fs,
            ack,
            paths,
            file: Some(file),
            debug,
            stats: ReceptionStats::new(entry.requested.0, entry.requested.1),
            journal: TransferJournal::new(jpaths, record, DurabilityPolicy::default()),
            attempts,
            requested: entry.requested,
            drop_raw: false,
        })
    }

    /// The transfer broke: what it holds is recorded, and it waits in the platform for its
    /// client (D65).
    pub(super) fn into_resumable(mut self, waiter: Option<super::resume::DoneSender>) -> Resumable {
        if let Err(e) = self.journal.commit(&*self.fs, unix_ms()) {
            tracing::error!("cannot record {}: {e}", self.paths.file.display());
        }
        Resumable {
            paths: self.journal.paths().clone(),
            record: self.journal.record().clone(),
            attempts: std::mem::take(&mut self.attempts),
            waiter,
            requested: self.requested,
            refused_by: Vec::new(),
        }
    }

    /// Records the checksum announced after the acknowledgement (D101) in the journal.
    pub(super) fn checksum_known(&mut self, checksum: &str) {
        self.ack.checksum = Some(checksum.to_string());
        self.journal.record_mut().file.checksum = checksum.to_string();
    }

    /// When the journal's next commit is due by age.
    pub(super) fn commit_deadline(&self) -> Option<Instant> {
        self.journal.poll_timeout()
    }

    /// Commits the journal if due (data synced first).
    pub(super) fn commit_if_due(&mut self, now: Instant) -> io::Result<()> {
        self.journal
            .commit_if_due(&self.fs, now, unix_ms())
            .map_err(journal_error)
    }

    /// Notes segment `index` (`len` bytes) stored; `before` is the prefix before it.
    fn note_stored(&mut self, index: u32, len: u64, before: (u32, u64), now: Instant) {
        if self.attempts.stored.contains(index) {
            self.attempts.resent_bytes += len;
        }
        self.attempts.stored.insert(index);
        let Some(file) = self.file.as_ref() else {
            return;
        };
        let (next, prefix) = file.prefix();
        if file.direct_target(index).is_some() {
            self.journal.note_written(now, index, len, prefix);
        } else {
            // In order only the contiguous prefix is at its offsets (D61).
            let mut bytes = prefix.saturating_sub(before.1);
            for i in before.0..next {
                self.journal.note_written(now, i, bytes, prefix);
                bytes = 0;
            }
        }
    }

    /// The verified file takes its final name (`.part` synced, renamed, directory synced,
    /// journal removed, D61); with the MP4-only container the raw file then goes.
    pub(super) fn publish(&mut self, file: &mut FinishedFile) -> io::Result<()> {
        self.journal.settle().map_err(journal_error)?;
        journal::finish(&*self.fs, self.journal.paths()).map_err(journal_error)?;
        file.path = self.paths.file.clone();
        if self.drop_raw {
            self.fs.remove_file(&self.paths.file)?;
        }
        Ok(())
    }

    /// A transfer the platform itself stopped: its journal goes (it is never resumed),
    /// what arrived stays in the `.part`.
    pub(super) fn forget(&mut self) {
        let _ = self.journal.settle();
        let paths = self.journal.paths();
        if self.fs.remove_file(&paths.journal).is_ok() {
            if let Some(dir) = paths.final_path.parent() {
                let _ = self.fs.sync_dir(dir);
            }
        }
    }

    /// Records what is durable now (the transfer ended unverified: `.part` and journal
    /// stay, to be resumed).
    pub(super) fn commit(&mut self) {
        if let Err(e) = self.journal.commit(&*self.fs, unix_ms()) {
            tracing::error!("cannot record {}: {e}", self.paths.file.display());
        }
    }

    /// Segments held, inclusive ranges (all attempts).
    pub(super) fn held_ranges(&self) -> Vec<(u32, u32)> {
        self.journal
            .record()
            .held
            .ranges()
            .iter()
            .map(|&(s, e)| (s, e - 1))
            .collect()
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
        file.note_header(index, header);
        let before = file.prefix();
        file.write_segment(index, data)?;
        self.note_stored(index, data.len() as u64, before, now);
        self.record(header, index, data.len() as u64, receive_time, now)?;
        self.commit_if_due(now)
    }

    /// Writes a playable MP4 copy beside the file as well (D76), when `container` asks
    /// for one and segments come in order (frame, GOP and time modes).
    pub(super) fn attach_container(&mut self, container: crate::store::container::Container) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        match &self.ack.demuxed {
            // MP4 frame mode (D77): the audio track's configuration comes with the ack.
            Some(demuxed) => file.attach_demuxed(container, demuxed_audio(demuxed)),
            None => file.attach_mp4(container),
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
        let before = file.prefix();
        file.mark_written(index, len)?;
        self.note_stored(index, len, before, now);
        self.record(header, index, len, receive_time, now)?;
        self.commit_if_due(now)
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
        match self.file.take().map(ReceivedFile::finish_keeping_raw) {
            Some(Ok((finished, drop_raw))) => {
                self.drop_raw = drop_raw;
                self.commit();
                finished
            }
            Some(Err(e)) => {
                tracing::error!("cannot finish {}: {e}", self.paths.file.display());
                self.unfinished()
            }
            None => self.unfinished(),
        }
    }

    fn unfinished(&self) -> FinishedFile {
        FinishedFile {
            path: self.journal.paths().part.clone(),
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
            // A resumed file holds what earlier attempts stored too.
            index_ranges: if self.attempts.resumed > 0 {
                self.held_ranges()
            } else {
                status.map_or_else(Vec::new, |s| s.index_ranges.clone())
            },
            media_ranges: status.map_or_else(Vec::new, |s| s.media_ranges.clone()),
            client_statistics: status.and_then(|s| s.client_statistics.clone()),
            expected_checksum: self.ack.checksum.clone(),
            actual_checksum: file.checksum.clone(),
            sha256_ok,
            output: output_path(&*self.fs, &file.path),
            debug_file: self.paths.debug.clone(),
            report_file: self.paths.report.clone(),
            resumed: self.attempts.resumed,
            resent_bytes: self.attempts.resent_bytes,
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
