//! The platform's durable record of one unfinished transfer, so that a restarted platform
//! knows which file it was receiving, with which parameters, and which segments it holds.
//!
//! Layout beside the received file (decision D61):
//! ```text
//! DIR/<session id>/<name>.part       the data received so far, at its final offsets
//! DIR/<session id>/<name>.journal    this record (JSON), replaced atomically
//! DIR/<session id>/<name>            only ever a complete, verified file
//! ```
//! # Ordering rules
//! - A segment is recorded as held only after the `.part`'s data was synced
//!   ([`TransferJournal::commit`] syncs, then writes the record), so after any crash the
//!   journal claims nothing that is not on disk.
//! - The record is written to `<name>.journal.tmp`, synced, renamed over `<name>.journal`
//!   and the directory synced: a crash leaves the old record or the new one, never a torn one.
//! - Commits are due every [`DurabilityPolicy::max_pending_bytes`] of written data, every
//!   [`DurabilityPolicy::max_pending_age`], and at the end.
//! - [`finish`] syncs the `.part`, renames it to the final name, syncs the directory and
//!   only then removes the journal.
//! - [`expire`] removes the journals not updated for a configurable age, with their `.part`.
//!
//! Journals read from disk are input like any other: a record that does not parse, or
//! whose ranges do not fit its transfer, is reported as [`JournalError`], never trusted.

use super::commit_thread;
use super::durable_fs::StoreFs;
use crate::wire::{FileRequest, ResumePoint, SegmentMode, MAX_HELD_RANGES};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Format version written in every record.
pub const JOURNAL_VERSION: u32 = 1;

/// The file being received: what lets a restarted client's file be recognised even when
/// the client lost its session id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// The path as the client names it (relative to its root).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the whole file.
    pub checksum: String,
}

/// The transfer's parameters, as acknowledged by the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferParams {
    /// The session the transfer belongs to (hyphenated UUID).
    pub session_id: String,
    /// The transfer id (12 hex digits).
    pub transfer_id: String,
    /// `fixed`, `frame`, `gop` or `time`.
    pub segment_mode: String,
    /// Bytes per segment in fixed mode.
    pub segment_size: Option<u64>,
    /// Segments in the transfer.
    pub total_segments: u32,
    /// The first segment asked for.
    pub start_segment: u32,
}

/// Half-open ranges of segment indices, sorted, disjoint and not touching.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SegmentRanges(Vec<(u32, u32)>);

impl SegmentRanges {
    /// No segment.
    pub fn new() -> Self {
        SegmentRanges::default()
    }

    /// Adds `[start, end)`.
    pub fn insert_range(&mut self, start: u32, end: u32) {
        if start >= end {
            return;
        }
        let (mut lo, mut hi) = (start, end);
        // Every range that overlaps or touches [lo, hi) merges into it.
        self.0.retain(|&(s, e)| {
            if e < lo || s > hi {
                true
            } else {
                lo = lo.min(s);
                hi = hi.max(e);
                false
            }
        });
        let at = self.0.partition_point(|&(s, _)| s < lo);
        self.0.insert(at, (lo, hi));
    }

    /// Adds one index.
    pub fn insert(&mut self, index: u32) {
        self.insert_range(index, index.saturating_add(1));
    }

    /// True when `index` is held.
    pub fn contains(&self, index: u32) -> bool {
        let at = self.0.partition_point(|&(s, _)| s <= index);
        at > 0 && self.0[at - 1].1 > index
    }

    /// The first index at or after `from` that is not held.
    pub fn first_missing(&self, from: u32) -> u32 {
        let at = self.0.partition_point(|&(s, _)| s <= from);
        match at.checked_sub(1).map(|i| self.0[i]) {
            Some((_, e)) if e > from => e,
            _ => from,
        }
    }

    /// Indices held.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|&(s, e)| u64::from(e - s)).sum()
    }

    /// The ranges, in order.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }

    /// The ranges that start after `index`.
    pub fn after(&self, index: u32) -> Vec<(u32, u32)> {
        self.0.iter().copied().filter(|&(s, _)| s > index).collect()
    }

    /// True when the ranges are sorted, disjoint, non-empty and end by `limit`.
    fn is_valid(&self, limit: u32) -> bool {
        self.0.iter().all(|&(s, e)| s < e && e <= limit)
            && self.0.windows(2).all(|w| w[0].1 < w[1].0)
    }
}

/// One transfer's durable record (the JSON in `<name>.journal`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// [`JOURNAL_VERSION`].
    pub version: u32,
    /// The file.
    pub file: FileIdentity,
    /// The transfer.
    pub transfer: TransferParams,
    /// Segments whose data is durable in the `.part`.
    pub held: SegmentRanges,
    /// In-order placement: bytes of the durable contiguous prefix of the `.part` (where
    /// the first missing segment starts). In fixed mode, `first missing x segment_size`.
    pub durable_prefix: u64,
    /// When the record was last written, milliseconds since the Unix epoch.
    pub updated_unix_ms: u64,
    /// The device the file came from, when it said (D90/D93): a client that restarted
    /// and lost its session id is matched by it and the file's identity (D64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// How the first request asked for the file, so that the resumed request asks the
    /// same way (D64). Absent in older records: the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_as: Option<RequestedAs>,
}

/// The first FileRequest's pacing, playback rate and send-rate cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestedAs {
    /// `max_speed` or `realtime`.
    pub pacing: String,
    /// The playback rate (realtime pacing follows it).
    pub playback_rate: f64,
    /// The send-rate cap, bits per second.
    pub max_bandwidth: Option<u64>,
}

impl RequestedAs {
    /// What `request` asked for.
    pub fn of(request: &FileRequest) -> Self {
        RequestedAs {
            pacing: request.pacing.name().to_string(),
            playback_rate: request.playback_rate,
            max_bandwidth: request.max_bandwidth,
        }
    }
}

/// A journal on disk that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The journal.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The record is not valid JSON of the expected shape.
    #[error("{path}: not a journal: {reason}")]
    Malformed {
        /// The journal.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The record's version is not [`JOURNAL_VERSION`].
    #[error("{path}: journal version {version} is not supported")]
    Version {
        /// The journal.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
    /// The held ranges do not fit the transfer.
    #[error("{path}: held ranges do not fit a transfer of {total} segments")]
    Inconsistent {
        /// The journal.
        path: PathBuf,
        /// The transfer's segment count.
        total: u32,
    },
}

impl JournalRecord {
    /// Parses and checks a record read from `path`.
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<Self, JournalError> {
        let record: JournalRecord =
            serde_json::from_slice(bytes).map_err(|e| JournalError::Malformed {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if record.version != JOURNAL_VERSION {
            return Err(JournalError::Version {
                path: path.to_path_buf(),
                version: record.version,
            });
        }
        if !record.held.is_valid(record.transfer.total_segments) {
            return Err(JournalError::Inconsistent {
                path: path.to_path_buf(),
                total: record.transfer.total_segments,
            });
        }
        Ok(record)
    }

    /// The first segment the transfer still needs (where `resume_from_segment` points).
    pub fn first_missing(&self) -> u32 {
        self.held.first_missing(self.transfer.start_segment)
    }

    /// True when every segment from the start to the last is held.
    pub fn is_complete(&self) -> bool {
        self.first_missing() >= self.transfer.total_segments
    }

    /// The FileRequest that asks for exactly what is missing (D63): the same file and
    /// mode, `resume_from_segment` at the first missing index, `held_segments` for the
    /// ranges held after it (inclusive pairs). Past [`MAX_HELD_RANGES`] the last ranges
    /// are left out: the client then sends them again, which costs bytes, never data.
    pub fn resume_request(&self) -> FileRequest {
        let mut request = FileRequest::new(self.file.path.clone());
        if let Some(mode) = SegmentMode::from_name(&self.transfer.segment_mode) {
            request.segment_mode = mode;
        }
        if let Some(asked) = &self.requested_as {
            if let Some(pacing) = crate::wire::Pacing::from_name(&asked.pacing) {
                request.pacing = pacing;
            }
            request.playback_rate = asked.playback_rate;
            request.max_bandwidth = asked.max_bandwidth;
        }
        let first = self.first_missing();
        request.resume_from_segment = Some(ResumePoint::Index(first));
        request.held_segments = self
            .held
            .after(first)
            .into_iter()
            .take(MAX_HELD_RANGES)
            .map(|(s, e)| (s, e - 1))
            .collect();
        request
    }

    /// True when `identity` names the same file (path, size and checksum): how a
    /// restarted client that lost its session id is matched with its unfinished transfer.
    pub fn is_same_file(&self, identity: &FileIdentity) -> bool {
        self.file == *identity
    }
}

/// The `.part`, `.journal` and final paths of a received file at `final_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalPaths {
    /// Where the data is received.
    pub part: PathBuf,
    /// The record.
    pub journal: PathBuf,
    /// The verified file's name.
    pub final_path: PathBuf,
}

impl JournalPaths {
    /// The paths beside `final_path`.
    pub fn new(final_path: &Path) -> Self {
        let with = |suffix: &str| {
            let mut name = final_path.as_os_str().to_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        JournalPaths {
            part: with(".part"),
            journal: with(".journal"),
            final_path: final_path.to_path_buf(),
        }
    }

    /// The paths of the journal at `journal` (None if it does not end in `.journal`).
    pub fn from_journal(journal: &Path) -> Option<Self> {
        let name = journal.file_name()?.to_str()?;
        let stem = name.strip_suffix(".journal")?;
        Some(JournalPaths::new(&journal.with_file_name(stem)))
    }

    fn dir(&self) -> &Path {
        self.final_path.parent().unwrap_or(Path::new("."))
    }
}

/// When written data must be made durable and recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurabilityPolicy {
    /// Commit once this many bytes were written since the last commit (default 4 MiB).
    pub max_pending_bytes: u64,
    /// Commit once the oldest uncommitted write is this old (default 1 s).
    pub max_pending_age: Duration,
}

impl Default for DurabilityPolicy {
    fn default() -> Self {
        DurabilityPolicy {
            max_pending_bytes: 4 * 1024 * 1024,
            max_pending_age: Duration::from_secs(1),
        }
    }
}

/// The journal of one transfer being received: what is durable, what is written but not
/// yet synced, and when the next commit is due. Time is an argument; nothing here reads
/// a clock.
#[derive(Debug)]
pub struct TransferJournal {
    paths: JournalPaths,
    record: JournalRecord,
    policy: DurabilityPolicy,
    pending: SegmentRanges,
    pending_bytes: u64,
    pending_prefix: u64,
    oldest_pending: Option<Instant>,
    /// The commit running on the commit thread (D119), at most one.
    in_flight: Option<InFlight>,
}

/// A commit running on the store's commit thread (D119).
#[derive(Debug)]
struct InFlight {
    /// (In a mutex only to make the journal `Sync`: one owner ever uses it.)
    done: Mutex<mpsc::Receiver<Result<(), JournalError>>>,
    /// What the record held before this commit: restored if it fails, so that nothing
    /// whose sync failed is ever recorded as held.
    before: (SegmentRanges, u64),
    /// When to look again, once another commit fell due while this one ran.
    recheck_at: Option<Instant>,
}

/// How often a commit that fell due looks whether the one before it has ended.
const RECHECK: Duration = Duration::from_millis(5);

/// One commit: the `.part` synced (when `sync_part`), then `record` written atomically.
fn write_commit(
    fs: &dyn StoreFs,
    paths: &JournalPaths,
    record: &JournalRecord,
    sync_part: bool,
) -> Result<(), JournalError> {
    if sync_part {
        fs.sync_file(&paths.part)
            .map_err(|source| JournalError::Io {
                path: paths.part.clone(),
                source,
            })?;
    }
    write_record(fs, paths, record)
}

impl TransferJournal {
    /// A journal for a transfer starting now (nothing held) or reloaded (`record.held`).
    pub fn new(paths: JournalPaths, record: JournalRecord, policy: DurabilityPolicy) -> Self {
        let pending_prefix = record.durable_prefix;
        TransferJournal {
            paths,
            record,
            policy,
            pending: SegmentRanges::new(),
            pending_bytes: 0,
            pending_prefix,
            oldest_pending: None,
            in_flight: None,
        }
    }

    /// Segment `index` (`bytes` long) was written to the `.part` (not yet synced);
    /// `prefix` is the length of the contiguous prefix now written.
    pub fn note_written(&mut self, now: Instant, index: u32, bytes: u64, prefix: u64) {
        self.pending.insert(index);
        self.pending_bytes = self.pending_bytes.saturating_add(bytes);
        self.pending_prefix = self.pending_prefix.max(prefix);
        self.oldest_pending.get_or_insert(now);
    }

    /// True when a commit is due.
    pub fn is_commit_due(&self, now: Instant) -> bool {
        self.pending_bytes >= self.policy.max_pending_bytes
            || self.due_by_age().is_some_and(|at| now >= at)
    }

    /// When to call [`Self::commit_if_due`] again: the pending writes' age limit, or
    /// soon when a due commit waits for the one in flight (None when nothing is pending).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some(at) = self.in_flight.as_ref().and_then(|f| f.recheck_at) {
            return Some(at);
        }
        self.due_by_age()
    }

    fn due_by_age(&self) -> Option<Instant> {
        self.oldest_pending
            .map(|at| at + self.policy.max_pending_age)
    }

    /// Syncs the `.part`, then records what is now durable (atomically), here and now,
    /// after the commit in flight if any. `unix_ms` is the wall-clock time written in the
    /// record (for expiry).
    pub fn commit(&mut self, fs: &dyn StoreFs, unix_ms: u64) -> Result<(), JournalError> {
        self.settle()?;
        let before = self.absorb_pending(unix_ms);
        let sync_part = before.is_some();
        let result = write_commit(fs, &self.paths, &self.record, sync_part);
        if let (Err(_), Some(before)) = (&result, before) {
            self.restore(before);
        }
        result
    }

    /// Starts a commit when one is due (by bytes or by age) and none is in flight, and
    /// reports how the one before ended. The commit runs on the store's commit thread
    /// when `fs` allows it (D119), else here; either way the `.part` is synced before the
    /// record that names its data.
    pub fn commit_if_due(
        &mut self,
        fs: &Arc<dyn StoreFs>,
        now: Instant,
        unix_ms: u64,
    ) -> Result<(), JournalError> {
        self.reap()?;
        if !self.is_commit_due(now) {
            return Ok(());
        }
        if let Some(f) = self.in_flight.as_mut() {
            f.recheck_at = Some(now + RECHECK);
            return Ok(());
        }
        if !fs.commits_off_thread() {
            return self.commit(&**fs, unix_ms);
        }
        let before = self.absorb_pending(unix_ms);
        let sync_part = before.is_some();
        let (tx, done) = mpsc::sync_channel(1);
        let (job_fs, paths, record) = (Arc::clone(fs), self.paths.clone(), self.record.clone());
        let job: commit_thread::Job = Box::new(move || {
            let _ = tx.send(write_commit(&*job_fs, &paths, &record, sync_part));
        });
        self.in_flight = Some(InFlight {
            done: Mutex::new(done),
            before: before
                .unwrap_or_else(|| (self.record.held.clone(), self.record.durable_prefix)),
            recheck_at: None,
        });
        if let Err(job) = commit_thread::run(job) {
            job();
            return self.settle();
        }
        Ok(())
    }

    /// Waits for the commit in flight, if any, and reports how it ended. Everything else
    /// that touches the journal's files ([`finish`], removing it) comes after this.
    pub fn settle(&mut self) -> Result<(), JournalError> {
        let Some(f) = self.in_flight.take() else {
            return Ok(());
        };
        let done = f.done.into_inner().unwrap_or_else(|e| e.into_inner());
        let result = done.recv().unwrap_or_else(|_| Err(self.thread_lost()));
        if result.is_err() {
            self.restore(f.before);
        }
        result
    }

    /// The commit in flight's result, if it has ended.
    fn reap(&mut self) -> Result<(), JournalError> {
        let Some(f) = self.in_flight.as_ref() else {
            return Ok(());
        };
        let ended = f.done.lock().unwrap_or_else(|e| e.into_inner()).try_recv();
        match ended {
            Err(mpsc::TryRecvError::Empty) => Ok(()),
            Ok(Ok(())) => {
                self.in_flight = None;
                Ok(())
            }
            ended => {
                let e = ended.ok().and_then(Result::err);
                let before = self.in_flight.take().map(|f| f.before);
                if let Some(before) = before {
                    self.restore(before);
                }
                Err(e.unwrap_or_else(|| self.thread_lost()))
            }
        }
    }

    fn thread_lost(&self) -> JournalError {
        JournalError::Io {
            path: self.paths.journal.clone(),
            source: io::Error::other("the commit thread ended before the commit"),
        }
    }

    /// Moves the pending writes into the record (to be written by the commit under way);
    /// returns what the record held before, or None when nothing was pending (no data
    /// to sync).
    fn absorb_pending(&mut self, unix_ms: u64) -> Option<(SegmentRanges, u64)> {
        let before = (!self.pending.ranges().is_empty())
            .then(|| (self.record.held.clone(), self.record.durable_prefix));
        for &(s, e) in self.pending.ranges() {
            self.record.held.insert_range(s, e);
        }
        self.record.durable_prefix = self.pending_prefix;
        self.record.updated_unix_ms = unix_ms;
        self.pending = SegmentRanges::new();
        self.pending_bytes = 0;
        self.oldest_pending = None;
        before
    }

    /// A commit failed: the record holds again only what was durable before it (the data
    /// it was to make durable counts as missing, to be received again).
    fn restore(&mut self, (held, durable_prefix): (SegmentRanges, u64)) {
        self.record.held = held;
        self.record.durable_prefix = durable_prefix;
        self.pending_prefix = durable_prefix;
    }

    /// The durable record.
    pub fn record(&self) -> &JournalRecord {
        &self.record
    }

    /// The record, to change what the next commit writes (a resumed transfer's new id,
    /// a checksum announced late).
    pub fn record_mut(&mut self) -> &mut JournalRecord {
        &mut self.record
    }

    /// The paths.
    pub fn paths(&self) -> &JournalPaths {
        &self.paths
    }
}

impl Drop for TransferJournal {
    /// A commit still in flight ends before the journal goes, so that it can never
    /// write its record after whatever comes next (a resume's record, the journal's
    /// removal).
    fn drop(&mut self) {
        let _ = self.settle();
    }
}

/// Writes `record` atomically: temp file, sync, rename, sync the directory.
pub fn write_record(
    fs: &dyn StoreFs,
    paths: &JournalPaths,
    record: &JournalRecord,
) -> Result<(), JournalError> {
    let io = |source| JournalError::Io {
        path: paths.journal.clone(),
        source,
    };
    let bytes = serde_json::to_vec(record).map_err(|e| io(io::Error::other(e)))?;
    let mut tmp = paths.journal.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs.write_synced(&tmp, &bytes).map_err(io)?;
    fs.rename(&tmp, &paths.journal).map_err(io)?;
    fs.sync_dir(paths.dir()).map_err(io)
}

/// The verified `.part` becomes the final file: sync it, rename it, sync the directory,
/// then remove the journal (and sync again). A crash at any point leaves either the
/// journal and `.part` (resumable) or the final file.
pub fn finish(fs: &dyn StoreFs, paths: &JournalPaths) -> Result<(), JournalError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| JournalError::Io { path, source }
    };
    fs.sync_file(&paths.part).map_err(io(&paths.part))?;
    fs.rename(&paths.part, &paths.final_path)
        .map_err(io(&paths.part))?;
    fs.sync_dir(paths.dir()).map_err(io(&paths.final_path))?;
    match fs.remove_file(&paths.journal) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&paths.journal)(e)),
    }
    fs.sync_dir(paths.dir()).map_err(io(&paths.journal))
}

/// Every journal in `out_dir` and its immediate subfolders (one per session), each read
/// and checked, with its paths. Unreadable ones come back as errors for the caller to
/// report; they are never deleted here.
pub fn scan(
    fs: &dyn StoreFs,
    out_dir: &Path,
) -> Vec<Result<(JournalPaths, JournalRecord), JournalError>> {
    let mut found = Vec::new();
    let mut dirs = vec![out_dir.to_path_buf()];
    if let Ok(entries) = fs.read_dir(out_dir) {
        dirs.extend(entries.into_iter().filter(|p| fs.is_dir(p)));
    }
    for dir in dirs {
        let Ok(entries) = fs.read_dir(&dir) else {
            continue;
        };
        for path in entries {
            let Some(paths) = JournalPaths::from_journal(&path) else {
                continue;
            };
            let loaded = fs
                .read(&path)
                .map_err(|source| JournalError::Io {
                    path: path.clone(),
                    source,
                })
                .and_then(|bytes| JournalRecord::decode(&path, &bytes));
            found.push(loaded.map(|record| (paths, record)));
        }
    }
    found
}

/// Removes every journal last updated more than `max_age` before `now_unix_ms`, with its
/// `.part`. Returns the journals removed.
pub fn expire(
    fs: &dyn StoreFs,
    out_dir: &Path,
    max_age: Duration,
    now_unix_ms: u64,
) -> Vec<PathBuf> {
    let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    let mut removed = Vec::new();
    for (paths, record) in scan(fs, out_dir).into_iter().flatten() {
        if now_unix_ms.saturating_sub(record.updated_unix_ms) <= max_age_ms {
            continue;
        }
        // The journal goes first: a .part without a journal is never resumed.
        if fs.remove_file(&paths.journal).is_ok() {
            let _ = fs.remove_file(&paths.part);
            let _ = fs.sync_dir(paths.dir());
            removed.push(paths.journal);
        }
    }
    removed
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
