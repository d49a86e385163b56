use super::*;
use crate::store::durable_fs::{MemFs, OsFs};
use std::sync::{Arc, Mutex};

fn record(total: u32) -> JournalRecord {
    JournalRecord {
        version: JOURNAL_VERSION,
        file: FileIdentity {
            path: "test_videos/a.mp4".into(),
            size: u64::from(total) * 10,
            checksum: "sha256:00".into(),
        },
        transfer: TransferParams {
            session_id: "00000000-0000-0000-0000-000000000001".into(),
            transfer_id: "0123456789ab".into(),
            segment_mode: "fixed".into(),
            segment_size: Some(10),
            total_segments: total,
            start_segment: 0,
        },
        held: SegmentRanges::new(),
        durable_prefix: 0,
        updated_unix_ms: 0,
        device_id: None,
        requested_as: None,
    }
}

fn setup(fs: &MemFs) -> JournalPaths {
    let dir = Path::new("/out/s1");
    fs.create_dir_all(dir).unwrap();
    JournalPaths::new(&dir.join("a.mp4"))
}

#[test]
fn ranges_merge_and_answer_first_missing() {
    let mut r = SegmentRanges::new();
    for i in [5, 0, 1, 3, 2, 9, 7] {
        r.insert(i);
    }
    assert_eq!(r.ranges(), [(0, 4), (5, 6), (7, 8), (9, 10)]);
    r.insert(6);
    r.insert(8);
    assert_eq!(r.ranges(), [(0, 4), (5, 10)]);
    assert_eq!(r.first_missing(0), 4);
    assert_eq!(r.first_missing(5), 10);
    assert_eq!(r.first_missing(4), 4);
    assert!(r.contains(9) && !r.contains(4) && !r.contains(10));
    assert_eq!(r.after(4), [(5, 10)]);
    assert_eq!(r.count(), 9);
    r.insert_range(2, 12);
    assert_eq!(r.ranges(), [(0, 12)]);
    r.insert(u32::MAX);
    assert_eq!(r.first_missing(12), 12);
}

#[test]
fn nothing_is_recorded_as_held_before_its_data_is_synced() {
    let fs = MemFs::new();
    let paths = setup(&fs);
    let mut j = TransferJournal::new(paths.clone(), record(4), DurabilityPolicy::default());
    let t0 = Instant::now();
    fs.write_at(&paths.part, 0, &[1; 10]).unwrap();
    j.note_written(t0, 0, 10, 10);
    j.commit(&fs, 1).unwrap();
    fs.write_at(&paths.part, 10, &[2; 10]).unwrap();
    j.note_written(t0, 1, 10, 20);
    // Power cut before the second commit: the journal holds segment 0 only, and the
    // .part holds segment 0's bytes.
    fs.crash();
    let loaded = scan(&fs, Path::new("/out"));
    assert_eq!(loaded.len(), 1);
    let (p, rec) = loaded.into_iter().next().unwrap().unwrap();
    assert_eq!(p, paths);
    assert_eq!(rec.held.ranges(), [(0, 1)]);
    assert_eq!(rec.first_missing(), 1);
    assert_eq!(rec.durable_prefix, 10);
    assert_eq!(fs.read(&paths.part).unwrap(), [1; 10]);
}

#[test]
fn a_commit_survives_a_crash_with_its_data() {
    let fs = MemFs::new();
    let paths = setup(&fs);
    let mut j = TransferJournal::new(paths.clone(), record(4), DurabilityPolicy::default());
    let t0 = Instant::now();
    for i in [0u32, 2, 3] {
        fs.write_at(&paths.part, u64::from(i) * 10, &[i as u8; 10])
            .unwrap();
        j.note_written(t0, i, 10, 10);
    }
    j.commit(&fs, 5).unwrap();
    fs.crash();
    let (_, rec) = scan(&fs, Path::new("/out")).remove(0).unwrap();
    assert_eq!(rec.held.ranges(), [(0, 1), (2, 4)]);
    assert_eq!(rec.first_missing(), 1);
    assert_eq!(rec.held.after(1), [(2, 4)]);
    let part = fs.read(&paths.part).unwrap();
    assert_eq!(&part[20..30], &[2; 10]);
    assert_eq!(rec.updated_unix_ms, 5);
}

#[test]
fn commits_fall_due_by_bytes_and_by_age() {
    let paths = JournalPaths::new(Path::new("/out/a"));
    let policy = DurabilityPolicy {
        max_pending_bytes: 100,
        max_pending_age: Duration::from_secs(1),
    };
    let mut j = TransferJournal::new(paths, record(100), policy);
    let t0 = Instant::now();
    assert_eq!(j.poll_timeout(), None);
    assert!(!j.is_commit_due(t0 + Duration::from_secs(10)));
    j.note_written(t0, 0, 60, 60);
    assert_eq!(j.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    assert!(!j.is_commit_due(t0 + Duration::from_millis(999)));
    assert!(j.is_commit_due(t0 + Duration::from_secs(1)));
    j.note_written(t0 + Duration::from_millis(10), 1, 40, 100);
    assert!(j.is_commit_due(t0 + Duration::from_millis(10)), "100 bytes");
}

#[test]
fn finish_renames_the_part_and_removes_the_journal_durably() {
    let fs = MemFs::new();
    let paths = setup(&fs);
    let mut j = TransferJournal::new(paths.clone(), record(1), DurabilityPolicy::default());
    fs.write_at(&paths.part, 0, b"whole file").unwrap();
    j.note_written(Instant::now(), 0, 10, 10);
    j.commit(&fs, 1).unwrap();
    assert!(j.record().is_complete());
    finish(&fs, &paths).unwrap();
    fs.crash();
    assert_eq!(fs.read(&paths.final_path).unwrap(), b"whole file");
    assert!(fs.read(&paths.part).is_err());
    assert!(scan(&fs, Path::new("/out")).is_empty());
}

#[test]
fn records_from_disk_are_checked() {
    let p = Path::new("/out/x.journal");
    assert!(matches!(
        JournalRecord::decode(p, b"{not json"),
        Err(JournalError::Malformed { .. })
    ));
    let mut r = record(4);
    r.version = 99;
    assert!(matches!(
        JournalRecord::decode(p, &serde_json::to_vec(&r).unwrap()),
        Err(JournalError::Version { version: 99, .. })
    ));
    for held in [
        serde_json::json!([[0, 5]]),
        serde_json::json!([[2, 1]]),
        serde_json::json!([[0, 2], [1, 3]]),
        serde_json::json!([[0, 1], [1, 2]]),
    ] {
        let mut v = serde_json::to_value(record(4)).unwrap();
        v["held"] = held.clone();
        assert!(
            matches!(
                JournalRecord::decode(p, &serde_json::to_vec(&v).unwrap()),
                Err(JournalError::Inconsistent { total: 4, .. })
            ),
            "{held}"
        );
    }
    let good = serde_json::to_vec(&record(4)).unwrap();
    assert_eq!(JournalRecord::decode(p, &good).unwrap(), record(4));
}

#[test]
fn scan_reports_a_bad_journal_beside_good_ones() {
    let fs = MemFs::new();
    let paths = setup(&fs);
    write_record(&fs, &paths, &record(2)).unwrap();
    fs.write_synced(Path::new("/out/s1/b.mp4.journal"), b"garbage")
        .unwrap();
    let mut results = scan(&fs, Path::new("/out"));
    results.sort_by_key(|r| r.is_ok());
    assert!(matches!(results[0], Err(JournalError::Malformed { .. })));
    assert!(results[1].is_ok());
}

#[test]
fn old_journals_expire_with_their_part() {
    let fs = MemFs::new();
    let old = setup(&fs);
    let fresh = JournalPaths::new(Path::new("/out/s1/b.mp4"));
    let mut r = record(2);
    r.updated_unix_ms = 1_000;
    write_record(&fs, &old, &r).unwrap();
    fs.write_at(&old.part, 0, b"x").unwrap();
    r.updated_unix_ms = 90_000;
    write_record(&fs, &fresh, &r).unwrap();
    let removed = expire(&fs, Path::new("/out"), Duration::from_secs(60), 100_000);
    assert_eq!(removed, std::slice::from_ref(&old.journal));
    assert!(fs.read(&old.part).is_err());
    let left = scan(&fs, Path::new("/out"));
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].as_ref().unwrap().0, fresh);
}

#[test]
fn the_same_code_runs_on_real_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s1");
    OsFs.create_dir_all(&dir).unwrap();
    let paths = JournalPaths::new(&dir.join("a.mp4"));
    let mut j = TransferJournal::new(paths.clone(), record(2), DurabilityPolicy::default());
    OsFs.write_at(&paths.part, 0, &[7; 10]).unwrap();
    j.note_written(Instant::now(), 0, 10, 10);
    j.commit(&OsFs, 3).unwrap();
    let (_, rec) = scan(&OsFs, tmp.path()).remove(0).unwrap();
    assert_eq!(rec.first_missing(), 1);
    OsFs.write_at(&paths.part, 10, &[8; 10]).unwrap();
    finish(&OsFs, &paths).unwrap();
    assert_eq!(std::fs::read(&paths.final_path).unwrap().len(), 20);
    assert!(!paths.journal.exists() && !paths.part.exists());
}

#[test]
fn the_resume_request_asks_for_exactly_what_is_missing() {
    let mut r = record(100);
    for (s, e) in [(0, 40), (50, 60), (90, 100)] {
        r.held.insert_range(s, e);
    }
    let req = r.resume_request();
    assert_eq!(req.file_path, "test_videos/a.mp4");
    assert_eq!(req.segment_mode, crate::wire::SegmentMode::Fixed);
    assert_eq!(
        req.resume_from_segment,
        Some(crate::wire::ResumePoint::Index(40))
    );
    assert_eq!(req.held_segments, [(50, 59), (90, 99)]);
    req.validate().unwrap();
    let missing: Vec<u32> = (40..100).filter(|&i| !req.is_held(i)).collect();
    assert_eq!(missing, (40..50).chain(60..90).collect::<Vec<_>>());
    assert!(r.is_same_file(&r.file.clone()));
    let other = FileIdentity {
        size: 1,
        ..r.file.clone()
    };
    assert!(!r.is_same_file(&other));
}

#[test]
fn a_resume_request_stays_within_the_range_bound() {
    let total = 3 * crate::wire::MAX_HELD_RANGES as u32;
    let mut r = record(total);
    for i in (2..total).step_by(2) {
        r.held.insert(i);
    }
    let req = r.resume_request();
    assert_eq!(req.held_segments.len(), crate::wire::MAX_HELD_RANGES);
    req.validate().unwrap();
}

#[test]
fn the_resume_request_asks_the_way_the_first_request_did() {
    let mut r = record(10);
    r.held.insert_range(0, 4);
    r.held.insert_range(6, 8);
    let mut first = FileRequest::new("test_videos/a.mp4");
    first.pacing = crate::wire::Pacing::Realtime;
    first.playback_rate = 2.0;
    first.max_bandwidth = Some(1_000_000);
    r.requested_as = Some(RequestedAs::of(&first));
    let bytes = serde_json::to_vec(&r).unwrap();
    let back = JournalRecord::decode(Path::new("x.journal"), &bytes).unwrap();
    let again = back.resume_request();
    assert_eq!(again.pacing, crate::wire::Pacing::Realtime);
    assert_eq!(again.playback_rate, 2.0);
    assert_eq!(again.max_bandwidth, Some(1_000_000));
    assert_eq!(again.resume_from_segment, Some(ResumePoint::Index(4)));
    assert_eq!(again.held_segments, [(6, 7)]);
    // A record without it (older) resumes with the defaults.
    r.requested_as = None;
    assert_eq!(r.resume_request().max_bandwidth, None);
}

/// A [`MemFs`] whose `.part` syncs wait until the test opens the gate: a commit held in
/// flight on the commit thread (D119).
#[derive(Debug, Clone)]
struct GatedFs {
    fs: MemFs,
    open: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl GatedFs {
    fn new() -> Self {
        GatedFs {
            fs: MemFs::with_commit_thread(),
            open: Arc::new((Mutex::new(false), std::sync::Condvar::new())),
        }
    }

    fn open_gate(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }
}

impl StoreFs for GatedFs {
    fn commits_off_thread(&self) -> bool {
        true
    }
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.fs.write_synced(path, bytes)
    }
    fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.fs.write_at(path, offset, bytes)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.fs.read(path)
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let mut open = self.open.0.lock().unwrap();
        while !*open {
            open = self.open.1.wait(open).unwrap();
        }
        drop(open);
        self.fs.sync_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.fs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.fs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.fs.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.fs.create_dir_all(dir)
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.fs.read_dir(dir)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.fs.is_dir(path)
    }
    fn open_file(
        &self,
        path: &Path,
        mode: crate::store::durable_fs::OpenMode,
    ) -> io::Result<Arc<dyn crate::store::durable_fs::StoreFile>> {
        self.fs.open_file(path, mode)
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.fs.file_len(path)
    }
}

fn small_policy() -> DurabilityPolicy {
    DurabilityPolicy {
        max_pending_bytes: 10,
        max_pending_age: Duration::from_secs(1),
    }
}

/// D119: a due commit runs on the commit thread; until its sync has ended, the disk
/// claims nothing; a commit due meanwhile waits its turn (and asks to be polled again
/// soon, not in a loop); each one, settled, survives a power cut with its data.
#[test]
fn an_off_thread_commit_claims_its_data_only_once_synced_and_commits_keep_their_order() {
    let gated = GatedFs::new();
    let fs: Arc<dyn StoreFs> = Arc::new(gated.clone());
    let paths = setup(&gated.fs);
    let mut j = TransferJournal::new(paths.clone(), record(4), small_policy());
    let t0 = Instant::now();
    fs.write_at(&paths.part, 0, &[1; 10]).unwrap();
    j.note_written(t0, 0, 10, 10);
    j.commit_if_due(&fs, t0, 1).unwrap();
    // In flight, held at the gate: nothing recorded on disk yet.
    fs.write_at(&paths.part, 10, &[2; 10]).unwrap();
    j.note_written(t0, 1, 10, 20);
    j.commit_if_due(&fs, t0, 2).unwrap();
    assert_eq!(
        j.poll_timeout(),
        Some(t0 + RECHECK),
        "a due commit polls again soon"
    );
    gated.fs.crash();
    assert!(scan(&gated.fs, Path::new("/out")).is_empty());
    // The data written before the crash is gone too; write it again and let the sync run.
    fs.write_at(&paths.part, 0, &[1; 10]).unwrap();
    fs.write_at(&paths.part, 10, &[2; 10]).unwrap();
    gated.open_gate();
    j.settle().unwrap();
    let (_, rec) = scan(&gated.fs, Path::new("/out")).remove(0).unwrap();
    assert_eq!(rec.held.ranges(), [(0, 1)], "the first commit, alone");
    // At the recheck the second commit starts, and follows the first.
    j.commit_if_due(&fs, t0 + RECHECK, 3).unwrap();
    j.settle().unwrap();
    gated.fs.crash();
    let (_, rec) = scan(&gated.fs, Path::new("/out")).remove(0).unwrap();
    assert_eq!(rec.held.ranges(), [(0, 2)]);
    assert_eq!(rec.durable_prefix, 20);
    assert_eq!(rec.updated_unix_ms, 3);
    assert_eq!(gated.fs.read(&paths.part).unwrap()[10..], [2; 10]);
}

/// D119: a commit whose sync fails off the thread fails its transfer, and the record
/// keeps only what was durable before it.
#[test]
fn a_failed_off_thread_commit_records_nothing_it_was_to_make_durable() {
    let mem = MemFs::with_commit_thread();
    let fs: Arc<dyn StoreFs> = Arc::new(mem.clone());
    let paths = setup(&mem);
    let mut j = TransferJournal::new(paths.clone(), record(4), small_policy());
    let t0 = Instant::now();
    // No `.part` on disk: its sync fails.
    j.note_written(t0, 0, 10, 10);
    j.commit_if_due(&fs, t0, 1).unwrap();
    let err = j.settle().unwrap_err();
    assert!(err.to_string().contains("a.mp4.part"), "{err}");
    assert!(j.record().held.ranges().is_empty());
    assert_eq!(j.record().durable_prefix, 0);
    assert!(scan(&mem, Path::new("/out")).is_empty());
    // The failure is reported once; later commits run again.
    fs.write_at(&paths.part, 0, &[1; 10]).unwrap();
    j.note_written(t0, 0, 10, 10);
    j.commit_if_due(&fs, t0, 2).unwrap();
    j.settle().unwrap();
    assert_eq!(j.record().held.ranges(), [(0, 1)]);
}

/// D119: a journal dropped with a commit in flight waits for it, so the commit can never
/// write its record after what comes next (a resume's record, the journal's removal).
#[test]
fn a_journal_dropped_with_a_commit_in_flight_waits_for_it() {
    let gated = GatedFs::new();
    let fs: Arc<dyn StoreFs> = Arc::new(gated.clone());
    let paths = setup(&gated.fs);
    let mut j = TransferJournal::new(paths.clone(), record(4), small_policy());
    fs.write_at(&paths.part, 0, &[1; 10]).unwrap();
    j.note_written(Instant::now(), 0, 10, 10);
    j.commit_if_due(&fs, Instant::now(), 1).unwrap();
    let opener = {
        let gated = gated.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            gated.open_gate();
        })
    };
    drop(j);
    // Had the drop not waited, the gate (50 ms away) would still hold the record back.
    let (_, rec) = scan(&gated.fs, Path::new("/out")).remove(0).unwrap();
    assert_eq!(rec.held.ranges(), [(0, 1)]);
    opener.join().unwrap();
}
