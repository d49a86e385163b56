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

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
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

/// One file being received.
pub struct ReceivedFile {
    path: PathBuf,
    file: Arc<File>,
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
    spool: Option<(PathBuf, File, u64)>,
    size: u64,
}

impl ReceivedFile {
    /// Creates (truncating) the output file at `path`; its parent folder is created.
    ///
    /// `first_index` is the transfer's first segment (non-zero when resuming).
    pub fn create(path: &Path, placement: Placement, first_index: u32) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let start_offset = match placement {
            Placement::AtOffset { segment_size } => u64::from(first_index) * segment_size,
            Placement::InOrder => 0,
        };
        Ok(ReceivedFile {
            path: path.to_path_buf(),
            file: Arc::new(file),
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
            size: 0,
        })
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
    pub fn direct_target(&self, index: u32) -> Option<(Arc<File>, u64)> {
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

    fn advance_prefix(&mut self, data: &[u8]) -> io::Result<()> {
        self.hasher.update(data);
        self.next_index += 1;
        self.next_offset += data.len() as u64;
        Ok(())
    }

    fn append_in_order(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, self.next_offset)?;
        self.size = self.size.max(self.next_offset + data.len() as u64);
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
            match waiting {
                Waiting::InMemory(data) => {
                    self.waiting_in_memory -= data.len();
                    self.append_in_order(&data)?;
                }
                Waiting::Spooled { at, len } => {
                    let mut data = vec![0; len as usize];
                    if let Some((_, spool, _)) = &self.spool {
                        spool.read_exact_at(&mut data, at)?;
                    }
                    self.append_in_order(&data)?;
                }
            }
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
            let spool = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&spool_path)?;
            self.spool = Some((spool_path, spool, 0));
        }
        if let Some((_, spool, end)) = &mut self.spool {
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

    /// True when every index from the first through `last_index` has been written.
    pub fn is_complete_through(&self, last_index: u32) -> bool {
        self.next_index > last_index
    }

    /// Flushes the file, removes the spool, and returns the path, size and checksum.
    ///
    /// The checksum is given only when the contiguous prefix covers everything received
    /// (no gap remains). Segments still waiting behind a gap are written after what
    /// arrived in order, so nothing received is lost.
    pub fn finish(mut self) -> io::Result<FinishedFile> {
        let complete = self.waiting.is_empty() && self.written_ahead.is_empty();
        // In-order placement: write what waits behind a gap, in index order, so that no
        // received byte is lost (the file then is not the source, and gets no checksum).
        let waiting = std::mem::take(&mut self.waiting);
        for (_, w) in waiting {
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
            self.file.write_all_at(&data, self.next_offset)?;
            self.next_offset += data.len() as u64;
            self.size = self.size.max(self.next_offset);
        }
        self.file.sync_data()?;
        if let Some((spool_path, _, _)) = self.spool.take() {
            let _ = std::fs::remove_file(spool_path);
        }
        let checksum =
            complete.then(|| format!("sha256:{}", hex::encode(self.hasher.clone().finalize())));
        Ok(FinishedFile {
            path: self.path.clone(),
            size: self.size,
            checksum,
        })
    }
}

impl Drop for ReceivedFile {
    fn drop(&mut self) {
        if let Some((spool_path, _, _)) = self.spool.take() {
            let _ = std::fs::remove_file(spool_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sha256(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    /// Cuts `source` into segments of the given sizes (cycled).
    fn cut(source: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < source.len() {
            let n = sizes[i % sizes.len()].max(1).min(source.len() - at);
            out.push(source[at..at + n].to_vec());
            at += n;
            i += 1;
        }
        out
    }

    /// A permutation of `0..n` drawn from `seed` (xorshift; deterministic).
    fn shuffled(n: usize, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        let mut s = seed | 1;
        for i in (1..n).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            order.swap(i, (s % (i as u64 + 1)) as usize);
        }
        order
    }

    fn receive(
        placement: Placement,
        segments: &[Vec<u8>],
        order: &[usize],
        memory: usize,
    ) -> (FinishedFile, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/out.h264");
        let mut file = ReceivedFile::create(&path, placement, 0).unwrap();
        file.set_reorder_memory(memory);
        for &i in order {
            assert_eq!(
                file.write_segment(i as u32, &segments[i]).unwrap(),
                WriteOutcome::Accepted
            );
        }
        assert!(file.is_complete_through(segments.len() as u32 - 1));
        let finished = file.finish().unwrap();
        let bytes = std::fs::read(&finished.path).unwrap();
        assert!(
            !dir.path().join("s/.out.h264.spool").exists(),
            "spool removed"
        );
        (finished, bytes)
    }

    proptest! {
        #[test]
        fn any_arrival_order_reproduces_the_source(
            source in proptest::collection::vec(any::<u8>(), 1..20_000),
            sizes in proptest::collection::vec(1usize..3000, 1..8),
            seed in any::<u64>(),
            memory in prop_oneof![Just(0usize), Just(4096), Just(usize::MAX)],
        ) {
            let segments = cut(&source, &sizes);
            let order = shuffled(segments.len(), seed);
            let (finished, bytes) = receive(Placement::InOrder, &segments, &order, memory);
            prop_assert_eq!(&bytes, &source);
            prop_assert_eq!(finished.size, source.len() as u64);
            prop_assert_eq!(finished.checksum, Some(sha256(&source)));

            let size = sizes[0];
            let chunks = cut(&source, &[size]);
            let order = shuffled(chunks.len(), seed);
            let placement = Placement::AtOffset { segment_size: size as u64 };
            let (finished, bytes) = receive(placement, &chunks, &order, memory);
            prop_assert_eq!(&bytes, &source);
            prop_assert_eq!(finished.checksum, Some(sha256(&source)));
        }
    }

    proptest! {
        #[test]
        fn direct_writes_in_any_order_give_the_source_digest(
            source in proptest::collection::vec(any::<u8>(), 1..20_000),
            size in 1usize..3000,
            seed in any::<u64>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("direct.bin");
            let placement = Placement::AtOffset { segment_size: size as u64 };
            let mut file = ReceivedFile::create(&path, placement, 0).unwrap();
            let chunks = cut(&source, &[size]);
            for i in shuffled(chunks.len(), seed) {
                let (target, offset) = file.direct_target(i as u32).unwrap();
                target.write_all_at(&chunks[i], offset).unwrap();
                let outcome = file.mark_written(i as u32, chunks[i].len() as u64).unwrap();
                prop_assert_eq!(outcome, WriteOutcome::Accepted);
                prop_assert_eq!(
                    file.mark_written(i as u32, chunks[i].len() as u64).unwrap(),
                    WriteOutcome::Duplicate
                );
            }
            let done = file.finish().unwrap();
            prop_assert_eq!(std::fs::read(&done.path).unwrap(), source.clone());
            prop_assert_eq!(done.checksum, Some(sha256(&source)));
        }
    }

    #[test]
    fn in_order_placement_has_no_direct_target() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = ReceivedFile::create(&dir.path().join("o"), Placement::InOrder, 0).unwrap();
        assert!(file.direct_target(0).is_none());
        assert!(file.mark_written(0, 1).is_err());
    }

    #[test]
    fn duplicates_and_segments_before_the_start_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = ReceivedFile::create(&dir.path().join("o"), Placement::InOrder, 2).unwrap();
        assert_eq!(
            file.write_segment(1, b"x").unwrap(),
            WriteOutcome::BeforeStart
        );
        assert_eq!(
            file.write_segment(3, b"cd").unwrap(),
            WriteOutcome::Accepted
        );
        assert_eq!(
            file.write_segment(3, b"zz").unwrap(),
            WriteOutcome::Duplicate
        );
        assert_eq!(
            file.write_segment(2, b"ab").unwrap(),
            WriteOutcome::Accepted
        );
        assert_eq!(
            file.write_segment(2, b"zz").unwrap(),
            WriteOutcome::Duplicate
        );
        assert!(file.is_complete_through(3));
        let done = file.finish().unwrap();
        assert_eq!(std::fs::read(&done.path).unwrap(), b"abcd");
        assert_eq!(done.checksum, Some(sha256(b"abcd")));
    }

    #[test]
    fn early_segments_past_the_memory_bound_wait_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.bin");
        let mut file = ReceivedFile::create(&path, Placement::InOrder, 0).unwrap();
        file.set_reorder_memory(1000);
        for i in 1..10u32 {
            file.write_segment(i, &[i as u8; 400]).unwrap();
        }
        assert!(file.waiting_in_memory() <= 1000);
        assert!(dir.path().join(".o.bin.spool").exists());
        file.write_segment(0, &[0; 400]).unwrap();
        assert_eq!(file.pending(), 0);
        let done = file.finish().unwrap();
        let expect: Vec<u8> = (0..10u8).flat_map(|i| [i; 400]).collect();
        assert_eq!(std::fs::read(&done.path).unwrap(), expect);
        assert!(!dir.path().join(".o.bin.spool").exists());
    }

    #[test]
    fn a_gap_at_finish_keeps_every_received_byte_but_gives_no_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = ReceivedFile::create(&dir.path().join("o"), Placement::InOrder, 0).unwrap();
        file.write_segment(0, b"ab").unwrap();
        file.write_segment(2, b"ef").unwrap();
        assert!(!file.is_complete_through(2));
        let done = file.finish().unwrap();
        assert_eq!(std::fs::read(&done.path).unwrap(), b"abef");
        assert_eq!(done.checksum, None);
    }

    #[test]
    fn at_offset_placement_resuming_midway_writes_at_the_right_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o");
        std::fs::write(&path, b"").unwrap();
        let mut file =
            ReceivedFile::create(&path, Placement::AtOffset { segment_size: 4 }, 1).unwrap();
        file.write_segment(2, b"ij").unwrap();
        file.write_segment(1, b"efgh").unwrap();
        assert!(file.is_complete_through(2));
        let done = file.finish().unwrap();
        let bytes = std::fs::read(&done.path).unwrap();
        assert_eq!(&bytes[4..], b"efghij");
        assert_eq!(done.size, 10);
    }
}
