//! The catalog against a real directory tree: listing with each filter kind, every
//! FileEntry field, refusal of every path that is not served, and freshness of checksums.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tempfile::TempDir;
use vstream::catalog::{Catalog, CatalogError};
use vstream::media::FileFormat;
use vstream::wire::{CodecInfo, FileEntry, Resolution};

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_videos")
        .join(name)
}

/// A served root and, beside it, a directory outside it:
/// ```text
/// root/data.bin  root/link.mp4 -> videos/av.mp4
/// root/videos/av.mp4  root/videos/raw/baseline.h264
/// root/videos/escape.mp4 -> ../../outside/secret.mp4   (not served)
/// ```
struct Fixture {
    _dir: TempDir,
    root: PathBuf,
    outside: PathBuf,
    catalog: Catalog,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    fs::create_dir_all(root.join("videos/raw")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::copy(media("av.mp4"), root.join("videos/av.mp4")).unwrap();
    fs::copy(
        media("baseline.h264"),
        root.join("videos/raw/baseline.h264"),
    )
    .unwrap();
    fs::copy(media("data.bin"), root.join("data.bin")).unwrap();
    fs::copy(media("av.mp4"), outside.join("secret.mp4")).unwrap();
    std::os::unix::fs::symlink("videos/av.mp4", root.join("link.mp4")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.mp4"), root.join("videos/escape.mp4")).unwrap();
    let catalog = Catalog::new(&root).unwrap();
    assert_eq!(catalog.register_root().unwrap(), 4);
    Fixture {
        _dir: dir,
        root,
        outside,
        catalog,
    }
}

fn paths(entries: &[FileEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.file_path.as_str()).collect()
}

/// `sha256:` + what the `sha256sum` tool prints (or, without it, sha2 on the whole file).
fn sha256sum(path: &Path) -> String {
    if let Ok(out) = std::process::Command::new("sha256sum").arg(path).output() {
        if out.status.success() {
            let text = String::from_utf8(out.stdout).unwrap();
            return format!("sha256:{}", text.split_whitespace().next().unwrap());
        }
    }
    eprintln!("note: sha256sum not available; comparing with sha2 instead");
    use sha2::Digest;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
    )
}

#[test]
fn lists_every_served_file_sorted_and_skips_links_leaving_the_root() {
    let f = fixture();
    let all = [
        "data.bin",
        "link.mp4",
        "videos/av.mp4",
        "videos/raw/baseline.h264",
    ];
    assert_eq!(paths(&f.catalog.list(None)), all);
    assert_eq!(paths(&f.catalog.list(Some(""))), all);
}

#[test]
fn filter_by_format_name_is_case_insensitive() {
    let f = fixture();
    assert_eq!(
        paths(&f.catalog.list(Some("MP4"))),
        ["link.mp4", "videos/av.mp4"]
    );
    assert_eq!(
        paths(&f.catalog.list(Some("h264"))),
        ["videos/raw/baseline.h264"]
    );
    assert_eq!(paths(&f.catalog.list(Some("bin"))), ["data.bin"]);
}

#[test]
fn filter_by_glob_crosses_directories() {
    let f = fixture();
    assert_eq!(
        paths(&f.catalog.list(Some("*.h264"))),
        ["videos/raw/baseline.h264"]
    );
    assert_eq!(
        paths(&f.catalog.list(Some("videos/*"))),
        ["videos/av.mp4", "videos/raw/baseline.h264"]
    );
    assert_eq!(paths(&f.catalog.list(Some("data.?in"))), ["data.bin"]);
    assert_eq!(
        paths(&f.catalog.list(Some("[dl]*"))),
        ["data.bin", "link.mp4"]
    );
}

#[test]
fn filter_by_substring_of_the_path() {
    let f = fixture();
    assert_eq!(
        paths(&f.catalog.list(Some("raw/"))),
        ["videos/raw/baseline.h264"]
    );
    assert_eq!(paths(&f.catalog.list(Some("av"))), ["videos/av.mp4"]);
    assert!(f.catalog.list(Some("nothing-like-this")).is_empty());
}

#[test]
fn every_field_of_an_mp4_entry() {
    let f = fixture();
    let entry = f.catalog.list(Some("videos/av.mp4")).remove(0);
    let expected = FileEntry {
        file_path: "videos/av.mp4".into(),
        file_size: 649_476,
        duration: entry.duration,
        format: "mp4".into(),
        available: true,
        resolution: Some(Resolution::new(640, 360)),
        codec: Some(CodecInfo {
            video: Some("H.264".into()),
            audio: Some("AAC".into()),
        }),
        frame_rate: Some(30.0),
        bit_rate: Some(865_968),
        checksum: Some(sha256sum(&media("av.mp4"))),
    };
    assert_eq!(entry, expected);
    assert!((entry.duration.unwrap() - 6.0).abs() < 1e-3);
    assert_eq!(entry.resolution.unwrap().aspect_ratio, "16:9");
}

#[test]
fn every_field_of_a_non_media_entry() {
    let f = fixture();
    let entry = f.catalog.list(Some("data.bin")).remove(0);
    let expected = FileEntry {
        file_path: "data.bin".into(),
        file_size: 1_258_291,
        duration: None,
        format: "bin".into(),
        available: true,
        resolution: None,
        codec: None,
        frame_rate: None,
        bit_rate: None,
        checksum: Some(sha256sum(&media("data.bin"))),
    };
    assert_eq!(entry, expected);
}

#[test]
fn a_link_inside_the_root_is_served_as_its_own_path() {
    let f = fixture();
    let resolved = f.catalog.resolve("link.mp4").unwrap();
    assert_eq!(
        resolved.path,
        f.root.canonicalize().unwrap().join("videos/av.mp4")
    );
    assert_eq!(resolved.format, FileFormat::Mp4);
}

#[test]
fn resolve_returns_path_size_format_media_and_checksum() {
    let f = fixture();
    let resolved = f.catalog.resolve("videos/av.mp4").unwrap();
    assert_eq!(resolved.file_path, "videos/av.mp4");
    assert!(resolved.path.is_absolute());
    assert_eq!(
        fs::read(&resolved.path).unwrap(),
        fs::read(media("av.mp4")).unwrap()
    );
    assert_eq!(resolved.size, 649_476);
    assert_eq!(resolved.format, FileFormat::Mp4);
    assert_eq!(resolved.media.width, Some(640));
    assert_eq!(resolved.media.audio_channels, Some(2));
    assert_eq!(resolved.checksum, sha256sum(&media("av.mp4")));
}

#[test]
fn every_path_not_served_is_the_same_not_found() {
    let f = fixture();
    // A file put on disk after registration is not served until registered.
    fs::write(f.root.join("unregistered.mp4"), b"x").unwrap();
    let secret = f.outside.join("secret.mp4");
    let absolute = secret.to_str().unwrap().to_string();
    let attempts = [
        "../x",
        "/etc/passwd",
        absolute.as_str(),
        "a/../../b",
        "videos/../data.bin",
        "../outside/secret.mp4",
        "videos/escape.mp4",
        "unregistered.mp4",
        "missing.mp4",
        "videos",
        "videos\\av.mp4",
        "data.bin\0",
        "./data.bin",
        "videos//av.mp4",
        "",
    ];
    for attempt in attempts {
        let err = f.catalog.resolve(attempt).unwrap_err();
        assert!(
            matches!(&err, CatalogError::NotFound { file_path } if file_path == attempt),
            "{attempt:?}: {err:?}"
        );
        assert_eq!(err.status_code(), 404);
    }
}

#[test]
fn a_file_replaced_by_a_link_out_of_the_root_is_no_longer_served() {
    let f = fixture();
    f.catalog.resolve("data.bin").unwrap();
    fs::remove_file(f.root.join("data.bin")).unwrap();
    std::os::unix::fs::symlink(f.outside.join("secret.mp4"), f.root.join("data.bin")).unwrap();
    let err = f.catalog.resolve("data.bin").unwrap_err();
    assert!(matches!(err, CatalogError::NotFound { .. }));
    let entry = f.catalog.list(Some("data.bin")).remove(0);
    assert!(!entry.available);
}

#[test]
fn registering_outside_the_root_is_refused() {
    let f = fixture();
    let err = f
        .catalog
        .register(f.outside.join("secret.mp4"))
        .unwrap_err();
    assert!(matches!(err, CatalogError::OutsideRoot { .. }));
    let err = f.catalog.register("../outside").unwrap_err();
    assert!(matches!(err, CatalogError::OutsideRoot { .. }));
    let err = f.catalog.register("videos/escape.mp4").unwrap_err();
    assert!(matches!(err, CatalogError::OutsideRoot { .. }));
}

#[test]
fn registering_a_subdirectory_or_a_file_by_relative_path() {
    let f = fixture();
    let catalog = Catalog::new(&f.root).unwrap();
    assert_eq!(catalog.register("videos").unwrap(), 2);
    assert_eq!(catalog.register("data.bin").unwrap(), 1);
    assert_eq!(
        paths(&catalog.list(None)),
        ["data.bin", "videos/av.mp4", "videos/raw/baseline.h264"]
    );
}

#[test]
fn a_changed_file_gets_a_new_checksum() {
    let f = fixture();
    let path = f.root.join("data.bin");
    let before = f.catalog.list(Some("data.bin")).remove(0);
    // Same size, different content, later modification time.
    let mut content = fs::read(&path).unwrap();
    content[0] ^= 0xff;
    fs::write(&path, &content).unwrap();
    let later = SystemTime::now() + Duration::from_secs(60);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let after = f.catalog.list(Some("data.bin")).remove(0);
    assert_ne!(after.checksum, before.checksum);
    assert_eq!(after.checksum, Some(sha256sum(&path)));
    assert_eq!(
        f.catalog.resolve("data.bin").unwrap().checksum,
        sha256sum(&path)
    );
}

#[test]
fn a_file_of_another_size_is_reprobed() {
    let f = fixture();
    let path = f.root.join("data.bin");
    f.catalog.resolve("data.bin").unwrap();
    fs::write(&path, b"short now").unwrap();
    let resolved = f.catalog.resolve("data.bin").unwrap();
    assert_eq!(resolved.size, 9);
    assert_eq!(resolved.checksum, sha256sum(&path));
}

#[test]
fn a_rewrite_that_keeps_size_and_mtime_is_still_noticed_on_unix() {
    // The stamp also holds the inode change time, which a rewrite always bumps.
    let f = fixture();
    let path = f.root.join("data.bin");
    let before = f.catalog.resolve("data.bin").unwrap().checksum;
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let mut content = fs::read(&path).unwrap();
    content[1000] ^= 0x01;
    fs::write(&path, &content).unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let after = f.catalog.resolve("data.bin").unwrap().checksum;
    assert_ne!(after, before);
    assert_eq!(after, sha256sum(&path));
}

#[test]
fn a_deleted_file_is_listed_unavailable_with_last_known_fields() {
    let f = fixture();
    let before = f.catalog.list(Some("videos/av.mp4")).remove(0);
    fs::remove_file(f.root.join("videos/av.mp4")).unwrap();
    let after = f.catalog.list(Some("videos/av.mp4")).remove(0);
    assert!(!after.available);
    assert_eq!(
        after,
        FileEntry {
            available: false,
            ..before
        }
    );
    let err = f.catalog.resolve("videos/av.mp4").unwrap_err();
    assert!(matches!(err, CatalogError::NotFound { .. }));
    assert_eq!(err.status_code(), 404);
}

#[test]
fn a_root_that_is_not_a_directory_is_refused() {
    let err = Catalog::new(media("data.bin")).unwrap_err();
    assert!(matches!(err, CatalogError::RootNotADirectory(_)));
    let err = Catalog::new("/no/such/root").unwrap_err();
    assert_eq!(err.status_code(), 404);
}

#[test]
fn a_catalog_can_be_shared_between_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Catalog>();
    let f = fixture();
    let catalog = std::sync::Arc::new(f.catalog);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let catalog = catalog.clone();
            std::thread::spawn(move || catalog.resolve("videos/av.mp4").unwrap().checksum)
        })
        .collect();
    let sums: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(sums.iter().all(|s| *s == sums[0]));
}

#[test]
fn a_damaged_mp4_and_an_empty_file_are_served_as_bytes() {
    let f = fixture();
    fs::copy(media("data.bin"), f.root.join("broken.mp4")).unwrap();
    fs::write(f.root.join("empty.mp4"), b"").unwrap();
    f.catalog.register("broken.mp4").unwrap();
    f.catalog.register("empty.mp4").unwrap();
    for name in ["broken.mp4", "empty.mp4"] {
        let entry = f.catalog.list(Some(name)).remove(0);
        assert!(entry.available && entry.format == "mp4");
        assert_eq!(
            (entry.duration, entry.resolution, entry.codec),
            (None, None, None)
        );
        assert_eq!(entry.checksum, Some(sha256sum(&f.root.join(name))));
        assert_eq!(f.catalog.resolve(name).unwrap().size, entry.file_size);
    }
}

#[test]
fn a_directory_link_cycle_is_cut_and_a_linked_directory_is_listed_under_its_link() {
    let f = fixture();
    std::os::unix::fs::symlink("..", f.root.join("videos/raw/up")).unwrap();
    std::os::unix::fs::symlink("videos/raw", f.root.join("raw-link")).unwrap();
    let catalog = Catalog::new(&f.root).unwrap();
    catalog.register_root().unwrap();
    let listed = catalog.list(None);
    let paths = paths(&listed);
    // videos/raw/up -> videos is an ancestor of itself: cut. raw-link/up -> videos is not an
    // ancestor along that path, so videos' files appear once more under it.
    assert_eq!(
        paths,
        [
            "data.bin",
            "link.mp4",
            "raw-link/baseline.h264",
            "raw-link/up/av.mp4",
            "videos/av.mp4",
            "videos/raw/baseline.h264",
        ]
    );
    assert!(catalog.resolve("raw-link/up/raw/baseline.h264").is_err());
}
