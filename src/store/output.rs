//! The received file: segments written where they belong, whatever order they arrive in.
//!
//! Two placements, decided by the transfer's acknowledgement:
//! - [`Placement::AtOffset`] (fixed-size modes): segment `i` holds bytes
//!   `[i * size, (i + 1) * size)` (profile section 5) and is written there at once.
//! - [`Placement::InOrder`] (frame, GOP and time modes): a segment's offset is the sum of
//!   the sizes before it, known only once those arrived. Segments that come early wait in
//!   a reorder buffer bounded in memory; past the bound they wait in a spool file beside
//!   the output, so memory stays bounded however long an early segment is delayed.
//!
//! The SHA-256 of the file is computed as its contiguous prefix grows, so the verdict is
//! ready when the last byte lands, without reading the file again.

use super::budget::{charge, DiskBudget};
use super::container::{Container, Mp4Copy};
use super::durable_fs::{OpenMode, OsFs, StoreFile, StoreFs};
use crate::media::fmp4::AudioTrack;
use crate::wire::SegmentHeader;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where segments go in the output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Fixed-size chunks: segment `i` starts at `i * segment_size`.
    AtOffset {
        /// Bytes per segment (all but the last).
        segment_size: u64,
    },
    /// Variable-size segments, written back to back in index order.
    InOrder,
}

/// What happened to a segment handed to [`ReceivedFile::write_segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Written (or queued to be written once the segments before it arrive).
    Accepted,
    /// This index was already received: nothing written.
    Duplicate,
    /// The index lies before the transfer's first segment: nothing written.
    BeforeStart,
}

/// The finished file and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedFile {
    /// Where it was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// `sha256:<hex>` of its contents, when every segment from the first arrived (None
    /// when a gap remains, e.g. after a stop).
    pub checksum: Option<String>,
}

/// Default bound on early segments held in memory (beyond it they are spooled to disk).
pub const DEFAULT_REORDER_MEMORY: usize = 32 * 1024 * 1024;

enum Waiting {
    InMemory(Vec<u8>),
    Spooled { at: u64, len: u64 },
}

/// What a resumed file already holds (from its journal, D61/D64).
#[derive(Debug, Clone, Copy)]
pub struct Holding<'a> {
    /// Segments durable in the file (half-open index ranges).
    pub held: &'a super::journal::SegmentRanges,
    /// In-order placement: bytes of the durable contiguous prefix.
    pub durable_prefix: u64,
    /// The whole file's size (the last fixed-size segment's length follows from it).
    pub file_size: u64,
}

/// One file being received.
pub struct ReceivedFile {
    /// The store it is written to (D115): the file, its spool, their removal.
    fs: Arc<dyn StoreFs>,
    path: PathBuf,
    /// The name the verified file will have (the MP4 copy is named after it).
    final_path: PathBuf,
    file: Arc<dyn StoreFile>,
    placement: Placement,
    first_index: u32,
    /// Next index of the contiguous prefix (everything below it is written and hashed).
    next_index: u32,
    /// File offset where `next_index` starts (in-order placement) / prefix length.
    next_offset: u64,
    hasher: Sha256,
    /// In-order placement: segments waiting for their predecessors.
    waiting: BTreeMap<u32, Waiting>,
    /// At-offset placement: segments written past the prefix, with their sizes.
    written_ahead: BTreeMap<u32, u64>,
    waiting_in_memory: usize,
    memory_bound: usize,
    spool: Option<(PathBuf, Arc<dyn StoreFile>, u64)>,
    size: u64,
    /// The platform's byte budget, charged for every byte written (D48).
    budget: Option<Arc<DiskBudget>>,
    /// The playable copy fed with the contiguous prefix (in-order placement, D76).
    mp4: Option<(Mp4Copy, Container)>,
    /// Segment timestamps not yet in the prefix, while a copy is written.
    times: BTreeMap<u32, f64>,
    /// The segment a seek restarts at, until it joins the prefix.
    restart: Option<u32>,
    /// MP4 frame mode (D77): the segments are demuxed samples; audio ones go only to the
    /// MP4 copy, never to the file (which holds the video as an Annex-B stream).
    demuxed: bool,
    /// Demuxed audio segments not yet in the prefix: index -> duration in seconds.
    audio: BTreeMap<u32, f64>,
}

impl ReceivedFile {
    /// Creates (truncating) the output file at `path` on the operating system's files
    /// ([`OsFs`]); its parent folder is created.
    ///
    /// `first_index` is the transfer's first segment (non-zero when resuming).
    pub fn create(path: &Path, placement: Placement, first_index: u32) -> io::Result<Self> {
        ReceivedFile::create_in(Arc::new(OsFs), path, placement, first_index)
    }

    /// [`ReceivedFile::create`] in the store `fs` (D115).
    pub fn create_in(
        fs: Arc<dyn StoreFs>,
        path: &Path,
        placement: Placement,
        first_index: u32,
    ) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            fs.create_dir_all(parent)?;
        }
        let file = fs.open_file(path, OpenMode::Create)?;
        Ok(ReceivedFile::create_from(
            fs,
            path,
            file,
            placement,
            first_index,
        ))
    }

    /// Opens the partial file at `path` again (not truncated) for a resumed transfer
    /// (D64): the contiguous prefix it holds is hashed again from disk, and the segments
    /// held after it (at-offset placement) count as written. In order, only the prefix
    /// is ever held (early segments wait in memory or a spool, never at their offsets).
    pub fn reopen(
        fs: Arc<dyn StoreFs>,
        path: &Path,
        placement: Placement,
        first_index: u32,
        holding: Holding<'_>,
    ) -> io::Result<Self> {
        let file = fs.open_file(path, OpenMode::Existing)?;
        let mut received = ReceivedFile::create_from(fs, path, file, placement, first_index);
        let next = holding.held.first_missing(first_index);
        let (start, end) = match placement {
            Placement::AtOffset { segment_size } => (
                u64::from(first_index) * segment_size,
                (u64::from(next) * segment_size).min(holding.file_size),
            ),
            Placement::InOrder => (0, holding.durable_prefix),
        };
        let mut buf = vec![0u8; 1 << 20];
        let mut at = start;
        while at < end {
            let n = usize::try_from((end - at).min(buf.len() as u64)).unwrap_or(buf.len());
            received.file.read_exact_at(&mut buf[..n], at)?;
            received.hasher.update(&buf[..n]);
            at += n as u64;
        }
        received.next_index = next;
        received.next_offset = end;
        received.size = end;
        if let Placement::AtOffset { segment_size } = placement {
            for &(s, e) in holding.held.ranges() {
                for index in s.max(next)..e {
                    let offset = u64::from(index) * segment_size;
                    let len = segment_size.min(holding.file_size.saturating_sub(offset));
                    received.written_ahead.insert(index, len);
                    received.size = received.size.max(offset + len);
                }
            }
        }
        Ok(received)
    }

    fn create_from(
        fs: Arc<dyn StoreFs>,
        path: &Path,
        file: Arc<dyn StoreFile>,
        placement: Placement,
        first_index: u32,
    ) -> Self {
        let start_offset = match placement {
            Placement::AtOffset { segment_size } => u64::from(first_index) * segment_size,
            Placement::InOrder => 0,
        };
        ReceivedFile {
            fs,
            path: path.to_path_buf(),
            final_path: path.to_path_buf(),
            file,
            placement,
            first_index,
            next_index: first_index,
            next_offset: start_offset,
            hasher: Sha256::new(),
            waiting: BTreeMap::new(),
            written_ahead: BTreeMap::new(),
            waiting_in_memory: 0,
            memory_bound: DEFAULT_REORDER_MEMORY,
            spool: None,
            mp4: None,
            times: BTreeMap::new(),
            restart: None,
            demuxed: false,
            audio: BTreeMap::new(),
            size: 0,
            budget: None,
        }
    }

    /// The name the file gets once verified (it is written under [`ReceivedFile::path`],
    /// e.g. `<name>.part`, D61): the MP4 copy is named after it.
    pub fn set_final_path(&mut self, final_path: &Path) {
        self.final_path = final_path.to_path_buf();
    }

    /// The contiguous prefix: the next index it needs and its length in bytes.
    pub fn prefix(&self) -> (u32, u64) {
        (self.next_index, self.next_offset)
    }

    /// Charges every byte written (the file, its spool) to `budget` (D48).
    pub fn set_budget(&mut self, budget: Option<Arc<DiskBudget>>) {
        self.budget = budget;
    }

    /// The budget direct writes must charge ([`ReceivedFile::direct_target`]).
    pub fn budget(&self) -> Option<Arc<DiskBudget>> {
        self.budget.clone()
    }

    /// Sets how many bytes of early segments may wait in memory before spooling to disk.
    pub fn set_reorder_memory(&mut self, bytes: usize) {
        self.memory_bound = bytes;
    }

    /// Where the file is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Index of the first segment not yet part of the contiguous prefix.
    pub fn next_index(&self) -> u32 {
        self.next_index
    }

    /// Segments received but waiting for earlier ones (in-order) or written past the
    /// contiguous prefix (at-offset).
    pub fn pending(&self) -> usize {
        self.waiting.len() + self.written_ahead.len()
    }

    /// Bytes of early segments held in memory now.
    pub fn waiting_in_memory(&self) -> usize {
        self.waiting_in_memory
    }

    /// Where segment `index`'s data goes when the caller writes it itself, as it arrives:
    /// the shared file and the offset (at-offset placement only; `None` in order, where a
    /// segment's offset is known only once the segments before it arrived). Report the
    /// written segment with [`ReceivedFile::mark_written`].
    pub fn direct_target(&self, index: u32) -> Option<(Arc<dyn StoreFile>, u64)> {
        match self.placement {
            Placement::AtOffset { segment_size } => {
                Some((Arc::clone(&self.file), u64::from(index) * segment_size))
            }
            Placement::InOrder => None,
        }
    }

    /// Takes note that segment `index`, `len` bytes, was written at its
    /// [`direct_target`](ReceivedFile::direct_target) by the caller. The digest reads it
    /// back (from the page cache) once the contiguous prefix reaches it.
    pub fn mark_written(&mut self, index: u32, len: u64) -> io::Result<WriteOutcome> {
        let Placement::AtOffset { segment_size } = self.placement else {
            return Err(io::Error::other("direct writes need at-offset placement"));
        };
        if index < self.first_index {
            return Ok(WriteOutcome::BeforeStart);
        }
        if index < self.next_index || self.written_ahead.contains_key(&index) {
            return Ok(WriteOutcome::Duplicate);
        }
        self.size = self.size.max(u64::from(index) * segment_size + len);
        self.written_ahead.insert(index, len);
        self.drain_written_ahead()?;
        Ok(WriteOutcome::Accepted)
    }

    /// Takes segment `index` with its data.
    pub fn write_segment(&mut self, index: u32, data: &[u8]) -> io::Result<WriteOutcome> {
        if index < self.first_index {
            return Ok(WriteOutcome::BeforeStart);
        }
        if index < self.next_index
            || self.waiting.contains_key(&index)
            || self.written_ahead.contains_key(&index)
        {
            return Ok(WriteOutcome::Duplicate);
        }
        match self.placement {
            Placement::AtOffset { segment_size } => {
                let offset = u64::from(index) * segment_size;
                charge(self.budget.as_deref(), data.len() as u64)?;
                self.file.write_all_at(data, offset)?;
                self.size = self.size.max(offset + data.len() as u64);
                if index == self.next_index {
                    self.advance_prefix(data)?;
                    self.drain_written_ahead()?;
                } else {
                    self.written_ahead.insert(index, data.len() as u64);
                }
            }
            Placement::InOrder => {
                if index == self.next_index {
                    self.append_in_order(data)?;
                    self.drain_waiting()?;
                } else {
                    self.hold(index, data)?;
                }
            }
        }
        Ok(WriteOutcome::Accepted)
    }

    /// Writes a fragmented MP4 copy of the stream beside the file as its prefix grows
    /// (in-order placement only; see [`Mp4Copy`]). With [`Container::Mp4`] the file itself
    /// is removed once the copy is final.
    pub fn attach_mp4(&mut self, container: Container) {
        if self.placement == Placement::InOrder && container.writes_mp4() {
            self.mp4 = Some((Mp4Copy::new(&self.final_path), container));
        }
    }

    /// The timestamp segment `index` carries (the MP4 copy's timeline after a seek).
    pub fn note_timestamp(&mut self, index: u32, time: f64) {
        if self.mp4.is_some() && index >= self.next_index {
            self.times.insert(index, time);
        }
    }

    /// MP4 frame mode (D77): the segments are an MP4's demuxed samples. The copy (when
    /// `container` writes one) gets `audio` as its AAC track; audio segments are kept out
    /// of the file itself, which is the video's Annex-B stream.
    pub fn attach_demuxed(&mut self, container: Container, audio: Option<AudioTrack>) {
        self.demuxed = true;
        if self.placement == Placement::InOrder && container.writes_mp4() {
            self.mp4 = Some((Mp4Copy::new(&self.final_path).with_audio(audio), container));
            if self.first_index > 0 {
                // A transfer starting after a seek: video and audio keep the source's times.
                self.restart = Some(self.first_index);
            }
        }
    }

    /// What segment `index`'s header says that the file and its copy need: its timestamp
    /// (see [`note_timestamp`](Self::note_timestamp)) and, for a demuxed transfer, whether
    /// it is audio (and how long it lasts) and the video's frame duration.
    pub fn note_header(&mut self, index: u32, header: &SegmentHeader) {
        self.note_timestamp(index, header.timestamp());
        if !self.demuxed || index < self.next_index {
            return;
        }
        match header {
            SegmentHeader::Audio(a) => {
                self.audio.insert(index, a.duration);
            }
            SegmentHeader::Video(v) => {
                if let Some((copy, _)) = self.mp4.as_mut() {
                    copy.note_frame_duration(v.duration);
                }
            }
        }
    }

    fn feed_mp4(&mut self, data: &[u8]) {
        let index = self.next_index;
        let time = self.times.remove(&index);
        let audio = self.audio.remove(&index);
        let Some((copy, _)) = self.mp4.as_mut() else {
            return;
        };
        let mut fed = Ok(());
        if self.restart == Some(index) && audio.is_none() {
            self.restart = None;
            fed = copy.seek_to(time.unwrap_or(0.0));
        }
        let pushed = match audio {
            Some(duration) => copy.push_audio(data, time.unwrap_or(0.0), duration),
            None => copy.push(data),
        };
        if let Err(e) = fed.and(pushed) {
            // The byte-exact file is what the transfer is judged on: the copy stops here.
            tracing::warn!("MP4 copy of {} stopped: {e}", self.path.display());
            self.mp4 = None;
        }
    }

    fn advance_prefix(&mut self, data: &[u8]) -> io::Result<()> {
        let in_file = !self.audio.contains_key(&self.next_index);
        self.feed_mp4(data);
        self.hasher.update(data);
        self.next_index += 1;
        if in_file {
            self.next_offset += data.len() as u64;
        }
        Ok(())
    }

    fn append_in_order(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.audio.contains_key(&self.next_index) {
            charge(self.budget.as_deref(), data.len() as u64)?;
            self.file.write_all_at(data, self.next_offset)?;
            self.size = self.size.max(self.next_offset + data.len() as u64);
        }
        self.advance_prefix(data)
    }

    /// At-offset placement: chunks already on disk past the old prefix join it in order;
    /// they are read back (from the page cache, normally) only to be hashed.
    fn drain_written_ahead(&mut self) -> io::Result<()> {
        let mut buf = Vec::new();
        while let Some(len) = self.written_ahead.remove(&self.next_index) {
            buf.resize(len as usize, 0);
            self.file.read_exact_at(&mut buf, self.next_offset)?;
            self.hasher.update(&buf);
            self.next_index += 1;
            self.next_offset += len;
        }
        Ok(())
    }

    fn drain_waiting(&mut self) -> io::Result<()> {
        while let Some(waiting) = self.waiting.remove(&self.next_index) {
            let data = self.take_waiting(waiting)?;
            self.append_in_order(&data)?;
        }
        if self.waiting.is_empty() {
            // Nothing refers to the spool any more: start it again from empty.
            if let Some((_, spool, end)) = &mut self.spool {
                spool.set_len(0)?;
                *end = 0;
            }
        }
        Ok(())
    }

    fn hold(&mut self, index: u32, data: &[u8]) -> io::Result<()> {
        if self.waiting_in_memory + data.len() <= self.memory_bound {
            self.waiting_in_memory += data.len();
            self.waiting.insert(index, Waiting::InMemory(data.to_vec()));
            return Ok(());
        }
        if self.spool.is_none() {
            let name = format!(
                ".{}.spool",
                self.path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("output")
            );
            let spool_path = self.path.with_file_name(name);
            let spool = self.fs.open_file(&spool_path, OpenMode::Create)?;
            self.spool = Some((spool_path, spool, 0));
        }
        if let Some((_, spool, end)) = &mut self.spool {
            charge(self.budget.as_deref(), data.len() as u64)?;
            spool.write_all_at(data, *end)?;
            self.waiting.insert(
                index,
                Waiting::Spooled {
                    at: *end,
                    len: data.len() as u64,
                },
            );
            *end += data.len() as u64;
        }
        Ok(())
    }

    /// A seek moved the range to start at `index` (docs/protocol.md D43). In order:
    /// segments below `index` still waiting behind a gap are written now, in index order
    /// (nothing received is lost), then segment `index` and those after it follow right
    /// after what was written; segments below `index` arriving later are duplicates. A
    /// restart at or before the contiguous prefix's end (a seek backward) changes nothing:
    /// the segments sent again are duplicates. At-offset placement needs nothing either.
    pub fn restart_at(&mut self, index: u32) -> io::Result<()> {
        if self.placement != Placement::InOrder || index <= self.next_index {
            return Ok(());
        }
        let below: Vec<u32> = self.waiting.range(..index).map(|(&k, _)| k).collect();
        for k in below {
            if let Some(w) = self.waiting.remove(&k) {
                let data = self.take_waiting(w)?;
                self.append_in_order(&data)?;
            }
        }
        self.next_index = index;
        if self.mp4.is_some() {
            self.restart = Some(index);
            self.times = self.times.split_off(&index);
        }
        self.drain_waiting()
    }

    fn take_waiting(&mut self, w: Waiting) -> io::Result<Vec<u8>> {
        match w {
            Waiting::InMemory(data) => {
                self.waiting_in_memory -= data.len();
                Ok(data)
            }
            Waiting::Spooled { at, len } => {
                let mut data = vec![0; len as usize];
                if let Some((_, spool, _)) = &self.spool {
                    spool.read_exact_at(&mut data, at)?;
                }
                Ok(data)
            }
        }
    }

    /// True when every index from the first through `last_index` has been written.
    pub fn is_complete_through(&self, last_index: u32) -> bool {
        self.next_index > last_index
    }

    /// Flushes the file, removes the spool, and returns the path, size and checksum.
    ///
    /// The checksum is given only when the contiguous prefix covers everything received
    /// (no gap remains). Segments still waiting behind a gap are written after what
    /// arrived in order, so nothing received is lost.
    pub fn finish(self) -> io::Result<FinishedFile> {
        let (fs, path) = (Arc::clone(&self.fs), self.path.clone());
        let (finished, drop_raw) = self.finish_keeping_raw()?;
        if drop_raw {
            let _ = fs.remove_file(&path);
        }
        Ok(finished)
    }

    /// [`ReceivedFile::finish`], but the byte-exact file is never removed here: the second
    /// value is true when the container asks for the MP4 copy alone, so the caller removes
    /// the raw file once it was verified and renamed (D61).
    pub fn finish_keeping_raw(mut self) -> io::Result<(FinishedFile, bool)> {
        let complete = self.waiting.is_empty() && self.written_ahead.is_empty();
        // In-order placement: write what waits behind a gap, in index order, so that no
        // received byte is lost (the file then is not the source, and gets no checksum).
        let waiting = std::mem::take(&mut self.waiting);
        for (index, w) in waiting {
            let data = match w {
                Waiting::InMemory(data) => data,
                Waiting::Spooled { at, len } => {
                    let mut data = vec![0; len as usize];
                    if let Some((_, spool, _)) = &self.spool {
                        spool.read_exact_at(&mut data, at)?;
                    }
                    data
                }
            };
            if self.audio.contains_key(&index) {
                continue;
            }
            self.file.write_all_at(&data, self.next_offset)?;
            self.next_offset += data.len() as u64;
            self.size = self.size.max(self.next_offset);
        }
        self.file.sync_data()?;
        if let Some((spool_path, spool, _)) = self.spool.take() {
            drop(spool);
            let _ = self.fs.remove_file(&spool_path);
        }
        let checksum =
            complete.then(|| format!("sha256:{}", hex::encode(self.hasher.clone().finalize())));
        let drop_raw = self.finish_mp4();
        Ok((
            FinishedFile {
                path: self.path.clone(),
                size: self.size,
                checksum,
            },
            drop_raw,
        ))
    }
}

impl ReceivedFile {
    /// Finishes the MP4 copy (synced, renamed to its final name); true with
    /// [`Container::Mp4`] once the copy is final (the byte-exact file is then not wanted).
    fn finish_mp4(&mut self) -> bool {
        let Some((copy, container)) = self.mp4.take() else {
            return false;
        };
        match copy.finish() {
            Ok(Some((path, stats))) => {
                tracing::info!(
                    "playable copy {} ({} frames, {} fragments)",
                    path.display(),
                    stats.samples,
                    stats.fragments
                );
                !container.keeps_raw()
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("MP4 copy of {} not finished: {e}", self.path.display());
                false
            }
        }
    }
}

impl Drop for ReceivedFile {
    fn drop(&mut self) {
        if let Some((spool_path, spool, _)) = self.spool.take() {
            drop(spool);
            let _ = self.fs.remove_file(&spool_path);
        }
    }
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
