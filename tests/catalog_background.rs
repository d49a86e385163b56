//! The catalog's background hashing and its persistent checksum cache (D100): checksums are
//! known without a request once registration's hashing is over, are served at once when
//! they are not, survive a restart through the cache file for an unchanged file only, and a
//! damaged cache file is ignored and replaced.

use sha2::Digest;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use vstream::catalog::Catalog;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A root with `n` files of 1 MiB each, different contents.
fn root_with_files(dir: &Path, n: usize) -> Vec<(String, Vec<u8>)> {
    let root = dir.join("root");
    fs::create_dir_all(&root).unwrap();
    (0..n)
        .map(|i| {
            let content: Vec<u8> = (0..1 << 20).map(|j| (i * 31 + j * 7) as u8).collect();
            let name = format!("f{i}.bin");
            fs::write(root.join(&name), &content).unwrap();
            (name, content)
        })
        .collect()
}

/// A cache file entry for `path` as it is now, with `checksum`.
fn cache_entry(path: &Path, checksum: &str) -> String {
    let m = fs::metadata(path).unwrap();
    format!(
        r#"{{"path":{:?},"size":{},"mtime_secs":{},"mtime_nanos":{},"inode":{},"ctime_secs":{},"ctime_nanos":{},"checksum":"{checksum}"}}"#,
        path.canonicalize().unwrap().to_str().unwrap(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ino(),
        m.ctime(),
        m.ctime_nsec()
    )
}

#[test]
fn registration_hashes_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let files = root_with_files(dir.path(), 4);
    let catalog = Catalog::new(dir.path().join("root")).unwrap();
    assert_eq!(catalog.register_root().unwrap(), 4);
    catalog.wait_for_checksums();
    for (name, content) in &files {
        let served = catalog.resolve_at_once(name).unwrap();
        assert_eq!(served.checksum, Some(sha256(content)), "{name}");
        assert_eq!(served.size, content.len() as u64);
    }
}

#[test]
fn a_file_served_at_once_gets_its_checksum_later() {
    let dir = tempfile::tempdir().unwrap();
    let files = root_with_files(dir.path(), 8);
    let catalog = Catalog::new(dir.path().join("root")).unwrap();
    catalog.register_root().unwrap();
    // Whether or not the worker got there first, the checksum is the file's.
    for (name, content) in files.iter().rev() {
        let served = catalog.resolve_at_once(name).unwrap();
        assert_eq!(catalog.checksum(&served).unwrap(), sha256(content));
    }
}

#[test]
fn a_file_served_at_once_then_deleted_gives_an_error_not_a_checksum() {
    let dir = tempfile::tempdir().unwrap();
    root_with_files(dir.path(), 1);
    let catalog = Catalog::new(dir.path().join("root")).unwrap();
    catalog.register_root().unwrap();
    let served = catalog.resolve_at_once("f0.bin").unwrap();
    fs::remove_file(dir.path().join("root/f0.bin")).unwrap();
    if served.checksum.is_none() {
        assert_eq!(catalog.checksum(&served).unwrap_err().status_code(), 404);
    }
}

#[test]
fn checksums_survive_a_restart_through_the_cache_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = root_with_files(dir.path(), 3);
    let cache = dir.path().join("state/checksums.json");
    {
        let catalog = Catalog::with_checksum_cache(dir.path().join("root"), &cache).unwrap();
        catalog.register_root().unwrap();
        catalog.wait_for_checksums();
    }
    let saved = fs::read_to_string(&cache).unwrap();
    for (_, content) in &files {
        assert!(saved.contains(&sha256(content)));
    }
    // Proof that the next run reads it rather than hashing again: plant a checksum no file
    // has for f0.bin as it is now, and a stale key for f1.bin.
    let planted = format!("sha256:{}", "0".repeat(64));
    let root = dir.path().join("root");
    let stale = cache_entry(&root.join("f1.bin"), &planted).replace("\"size\":", "\"size\":1");
    fs::write(
        &cache,
        format!(
            r#"{{"version":1,"entries":[{},{stale}]}}"#,
            cache_entry(&root.join("f0.bin"), &planted)
        ),
    )
    .unwrap();
    let catalog = Catalog::with_checksum_cache(&root, &cache).unwrap();
    catalog.register_root().unwrap();
    assert_eq!(
        catalog.resolve_at_once("f0.bin").unwrap().checksum,
        Some(planted.clone())
    );
    assert_eq!(
        catalog.resolve("f1.bin").unwrap().checksum,
        sha256(&files[1].1)
    );
    // A rewrite (same size, modification time set back) is a new version.
    let path = root.join("f0.bin");
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    fs::write(&path, &files[2].1).unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    drop(catalog);
    let catalog = Catalog::with_checksum_cache(&root, &cache).unwrap();
    catalog.register_root().unwrap();
    assert_eq!(
        catalog.resolve("f0.bin").unwrap().checksum,
        sha256(&files[2].1)
    );
}

#[test]
fn a_damaged_cache_file_is_ignored_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let files = root_with_files(dir.path(), 2);
    let cache = dir.path().join("checksums.json");
    for damage in [
        &b"{\"version\":1,\"entries\":[{\"pa"[..],
        b"\0\0\0\xff",
        b"[]",
        b"null",
    ] {
        fs::write(&cache, damage).unwrap();
        let catalog = Catalog::with_checksum_cache(dir.path().join("root"), &cache).unwrap();
        catalog.register_root().unwrap();
        catalog.wait_for_checksums();
        for (name, content) in &files {
            assert_eq!(catalog.resolve(name).unwrap().checksum, sha256(content));
        }
        drop(catalog);
        let rewritten: serde_json::Value =
            serde_json::from_slice(&fs::read(&cache).unwrap()).unwrap();
        assert_eq!(rewritten["entries"].as_array().unwrap().len(), 2);
    }
}
