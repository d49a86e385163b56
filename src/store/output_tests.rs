//! Tests of [`ReceivedFile`](super::ReceivedFile): arrival orders, spooling, gaps, restarts.

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
    let mut file = ReceivedFile::create(&path, Placement::AtOffset { segment_size: 4 }, 1).unwrap();
    file.write_segment(2, b"ij").unwrap();
    file.write_segment(1, b"efgh").unwrap();
    assert!(file.is_complete_through(2));
    let done = file.finish().unwrap();
    let bytes = std::fs::read(&done.path).unwrap();
    assert_eq!(&bytes[4..], b"efghij");
    assert_eq!(done.size, 10);
}

#[test]
fn a_restart_forward_continues_after_the_prefix_and_flushes_what_waits_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = ReceivedFile::create(&dir.path().join("o"), Placement::InOrder, 0).unwrap();
    file.write_segment(0, b"ab").unwrap();
    file.write_segment(2, b"ef").unwrap(); // behind a gap (1 never came)
    file.write_segment(6, b"mn").unwrap(); // after the restart point, early
    file.restart_at(5).unwrap();
    assert_eq!(file.next_index(), 5);
    file.write_segment(5, b"kl").unwrap();
    assert_eq!(
        file.write_segment(3, b"zz").unwrap(),
        WriteOutcome::Duplicate
    );
    assert!(file.is_complete_through(6));
    let done = file.finish().unwrap();
    assert_eq!(std::fs::read(&done.path).unwrap(), b"abefklmn");
    assert_eq!(done.checksum, Some(sha256(b"abefklmn")));
}

#[test]
fn a_restart_backward_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = ReceivedFile::create(&dir.path().join("o"), Placement::InOrder, 0).unwrap();
    file.write_segment(0, b"ab").unwrap();
    file.write_segment(1, b"cd").unwrap();
    file.restart_at(1).unwrap();
    assert_eq!(
        file.write_segment(1, b"cd").unwrap(),
        WriteOutcome::Duplicate
    );
    file.write_segment(2, b"ef").unwrap();
    let done = file.finish().unwrap();
    assert_eq!(std::fs::read(&done.path).unwrap(), b"abcdef");
}

proptest! {
    /// A file reopened from what an earlier attempt held (D64) ends with the source's
    /// digest once the rest arrives, in any order: the prefix is hashed again from disk,
    /// held segments after it count as written and are duplicates if they come again.
    #[test]
    fn a_reopened_file_completes_to_the_source_digest(
        source in proptest::collection::vec(any::<u8>(), 1..20_000),
        size in 1usize..3000,
        seed in any::<u64>(),
        cut_at in 0usize..100,
    ) {
        use crate::store::journal::SegmentRanges;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin.part");
        let placement = Placement::AtOffset { segment_size: size as u64 };
        let chunks = cut(&source, &[size]);
        let order = shuffled(chunks.len(), seed);
        let first = (cut_at * order.len()) / 100;
        let mut held = SegmentRanges::new();
        {
            let mut file = ReceivedFile::create(&path, placement, 0).unwrap();
            for &i in &order[..first] {
                file.write_segment(i as u32, &chunks[i]).unwrap();
                held.insert(i as u32);
            }
            // The break: the first attempt's file is dropped unfinished.
        }
        let holding = Holding { held: &held, durable_prefix: 0, file_size: source.len() as u64 };
        let mut file = ReceivedFile::reopen(Arc::new(OsFs), &path, placement, 0, holding).unwrap();
        for &i in &order[..first] {
            prop_assert_eq!(
                file.write_segment(i as u32, &chunks[i]).unwrap(),
                WriteOutcome::Duplicate
            );
        }
        for &i in &order[first..] {
            prop_assert_eq!(
                file.write_segment(i as u32, &chunks[i]).unwrap(),
                WriteOutcome::Accepted
            );
        }
        let done = file.finish().unwrap();
        prop_assert_eq!(std::fs::read(&done.path).unwrap(), source.clone());
        prop_assert_eq!(done.checksum, Some(sha256(&source)));
    }

    /// In order, only the contiguous prefix is held: reopened at its byte length, the
    /// file continues after it and ends with the source's digest.
    #[test]
    fn a_reopened_in_order_file_continues_after_its_prefix(
        source in proptest::collection::vec(any::<u8>(), 1..20_000),
        sizes in proptest::collection::vec(1usize..3000, 1..8),
        cut_at in 0usize..100,
    ) {
        use crate::store::journal::SegmentRanges;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.h264.part");
        let segments = cut(&source, &sizes);
        let first = (cut_at * segments.len()) / 100;
        let prefix: usize = segments[..first].iter().map(Vec::len).sum();
        {
            let mut file = ReceivedFile::create(&path, Placement::InOrder, 0).unwrap();
            for (i, s) in segments.iter().enumerate().take(first) {
                file.write_segment(i as u32, s).unwrap();
            }
            prop_assert_eq!(file.prefix(), (first as u32, prefix as u64));
        }
        let mut held = SegmentRanges::new();
        held.insert_range(0, first as u32);
        let holding = Holding {
            held: &held,
            durable_prefix: prefix as u64,
            file_size: source.len() as u64,
        };
        let mut file = ReceivedFile::reopen(Arc::new(OsFs), &path, Placement::InOrder, 0, holding).unwrap();
        for (i, s) in segments.iter().enumerate().skip(first).rev() {
            file.write_segment(i as u32, s).unwrap();
        }
        let done = file.finish().unwrap();
        prop_assert_eq!(std::fs::read(&done.path).unwrap(), source.clone());
        prop_assert_eq!(done.checksum, Some(sha256(&source)));
    }
}

/// The received file goes through the store's seam (D115): in a [`MemFs`] a power cut
/// keeps exactly what was synced; `finish` syncs; spooled segments live in the same store
/// and leave nothing behind.
#[test]
fn a_received_file_in_a_mem_fs_keeps_only_what_was_synced_at_a_power_cut() {
    use crate::store::durable_fs::MemFs;
    let fs = MemFs::new();
    let dir = Path::new("/out/s1");
    let path = dir.join("a.bin.part");
    let placement = Placement::AtOffset { segment_size: 4 };
    let mut file = ReceivedFile::create_in(Arc::new(fs.clone()), &path, placement, 0).unwrap();
    file.write_segment(0, b"abcd").unwrap();
    fs.sync_file(&path).unwrap();
    fs.sync_dir(dir).unwrap();
    file.write_segment(1, b"efgh").unwrap();
    let (target, offset) = file.direct_target(2).unwrap();
    target.write_all_at(b"ij", offset).unwrap();
    assert_eq!(file.mark_written(2, 2).unwrap(), WriteOutcome::Accepted);
    assert_eq!(fs.read(&path).unwrap(), b"abcdefghij");
    fs.crash();
    assert_eq!(fs.read(&path).unwrap(), b"abcd");

    // In order, with every early segment spooled: the spool is in the store too.
    let fs = MemFs::new();
    let path = dir.join("b.h264.part");
    let mut file =
        ReceivedFile::create_in(Arc::new(fs.clone()), &path, Placement::InOrder, 0).unwrap();
    file.set_reorder_memory(0);
    file.write_segment(2, b"ef").unwrap();
    file.write_segment(1, b"cd").unwrap();
    assert!(fs.read(&dir.join(".b.h264.part.spool")).is_ok(), "spooled");
    file.write_segment(0, b"ab").unwrap();
    let done = file.finish().unwrap();
    assert_eq!(done.checksum, Some(sha256(b"abcdef")));
    fs.sync_dir(dir).unwrap();
    fs.crash();
    assert_eq!(fs.read(&path).unwrap(), b"abcdef", "finish synced the data");
    assert_eq!(fs.read_dir(dir).unwrap(), [path]);
}
