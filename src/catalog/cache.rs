//! The persistent checksum cache (D100): what the catalog hashed, kept across restarts so a
//! client that comes back does not re-read every file before it can announce checksums.
//!
//! One small JSON file, keyed by canonical path, size, modification time, inode and inode
//! change time (a file whose key differs is hashed again; the change time is there because
//! a rewrite that sets the modification time back cannot set it back). It is bounded ([`MAX_ENTRIES`] entries, at most
//! [`MAX_FILE_BYTES`] read) and advisory: a missing, unreadable, corrupt or oversized cache
//! file is ignored with a warning, never an error, and is replaced on the next save.
//! Saving writes a temporary file next to it, syncs it and renames it over the old one, so a
//! crash leaves either the old cache or the new one.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Entries kept at most; beyond it the entries of files this catalog does not serve go first.
pub(crate) const MAX_ENTRIES: usize = 100_000;
/// A cache file larger than this is not read (100,000 entries take about 25 MB).
pub(crate) const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The format version; a file with another one is ignored.
const VERSION: u32 = 1;

/// What a cached checksum is valid for, besides the path: size, modification time (since
/// the epoch), inode and inode change time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CacheKey {
    pub(crate) size: u64,
    pub(crate) mtime_secs: i64,
    pub(crate) mtime_nanos: u32,
    pub(crate) inode: u64,
    pub(crate) ctime_secs: i64,
    pub(crate) ctime_nanos: i64,
}

/// The cache in memory.
#[derive(Debug)]
pub(crate) struct ChecksumCache {
    file: PathBuf,
    entries: HashMap<String, (CacheKey, String)>,
    dirty: bool,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    entries: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    path: String,
    #[serde(flatten)]
    key: CacheKey,
    checksum: String,
}

impl ChecksumCache {
    /// Loads the cache kept in `file`; an absent or unusable file gives an empty cache.
    pub(crate) fn load(file: impl Into<PathBuf>) -> ChecksumCache {
        let file = file.into();
        let entries = match read(&file) {
            Ok(entries) => entries,
            Err(reason) => {
                if file.exists() {
                    tracing::warn!(
                        "checksum cache {} ignored ({reason}); it will be rewritten",
                        file.display()
                    );
                }
                HashMap::new()
            }
        };
        ChecksumCache {
            file,
            entries,
            dirty: false,
        }
    }

    /// The checksum recorded for `path` at `key`, if any.
    pub(crate) fn get(&self, path: &Path, key: CacheKey) -> Option<String> {
        let (stored, checksum) = self.entries.get(path.to_str()?)?;
        (*stored == key).then(|| checksum.clone())
    }

    /// Records a checksum (paths that are not UTF-8 are not cached).
    pub(crate) fn insert(&mut self, path: &Path, key: CacheKey, checksum: &str) {
        let Some(path) = path.to_str() else { return };
        if self.get(Path::new(path), key).as_deref() == Some(checksum) {
            return;
        }
        self.entries
            .insert(path.to_string(), (key, checksum.to_string()));
        self.dirty = true;
    }

    /// Whether there is anything new to save.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Writes the cache if it changed, keeping at most [`MAX_ENTRIES`]: the paths `keep`
    /// accepts first. Errors are logged, not returned: the cache is an optimisation.
    pub(crate) fn save(&mut self, keep: impl Fn(&str) -> bool) {
        if !self.dirty {
            return;
        }
        if self.entries.len() > MAX_ENTRIES {
            let mut others: Vec<String> =
                self.entries.keys().filter(|p| !keep(p)).cloned().collect();
            others.sort_unstable();
            let excess = self.entries.len() - MAX_ENTRIES;
            for path in others.iter().take(excess) {
                self.entries.remove(path);
            }
            if self.entries.len() > MAX_ENTRIES {
                let mut all: Vec<String> = self.entries.keys().cloned().collect();
                all.sort_unstable();
                for path in &all[MAX_ENTRIES..] {
                    self.entries.remove(path);
                }
            }
        }
        match write(&self.file, &self.entries) {
            Ok(()) => self.dirty = false,
            Err(e) => tracing::warn!("checksum cache {} not saved: {e}", self.file.display()),
        }
    }
}

fn read(file: &Path) -> Result<HashMap<String, (CacheKey, String)>, String> {
    let opened = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let on_disk: OnDisk = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if on_disk.version != VERSION {
        return Err(format!("version {} (expected {VERSION})", on_disk.version));
    }
    let valid = |c: &str| {
        c.strip_prefix("sha256:")
            .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    Ok(on_disk
        .entries
        .into_iter()
        .filter(|e| valid(&e.checksum))
        .take(MAX_ENTRIES)
        .map(|e| (e.path, (e.key, e.checksum)))
        .collect())
}

fn write(file: &Path, entries: &HashMap<String, (CacheKey, String)>) -> std::io::Result<()> {
    let mut list: Vec<Entry> = entries
        .iter()
        .map(|(path, (key, checksum))| Entry {
            path: path.clone(),
            key: *key,
            checksum: checksum.clone(),
        })
        .collect();
    list.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let json = serde_json::to_vec(&OnDisk {
        version: VERSION,
        entries: list,
    })
    .map_err(std::io::Error::other)?;
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    // A temporary name of this process's own (tempfile is the simulator's dependency only).
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&temp, file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(size: u64, mtime_secs: i64, mtime_nanos: u32, inode: u64) -> CacheKey {
        CacheKey {
            size,
            mtime_secs,
            mtime_nanos,
            inode,
            ctime_secs: 5,
            ctime_nanos: 6,
        }
    }

    const SUM: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn round_trips_and_matches_only_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/cache.json");
        let mut cache = ChecksumCache::load(&file);
        cache.insert(Path::new("/a/b.mp4"), key(1, 2, 3, 4), SUM);
        assert!(cache.is_dirty());
        cache.save(|_| true);
        assert!(!cache.is_dirty());
        let loaded = ChecksumCache::load(&file);
        assert_eq!(
            loaded
                .get(Path::new("/a/b.mp4"), key(1, 2, 3, 4))
                .as_deref(),
            Some(SUM)
        );
        let mut changed = key(1, 2, 3, 4);
        changed.ctime_nanos = 7;
        for other in [
            key(9, 2, 3, 4),
            key(1, 9, 3, 4),
            key(1, 2, 9, 4),
            key(1, 2, 3, 9),
            changed,
        ] {
            assert_eq!(loaded.get(Path::new("/a/b.mp4"), other), None);
        }
        assert_eq!(loaded.get(Path::new("/a/c.mp4"), key(1, 2, 3, 4)), None);
    }

    #[test]
    fn corrupt_or_foreign_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.json");
        let good = format!(
            r#"{{"version":1,"entries":[{{"path":"/x","size":1,"mtime_secs":2,"mtime_nanos":3,"inode":4,"ctime_secs":5,"ctime_nanos":6,"checksum":"{SUM}"}}]}}"#
        );
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\xff\xfe garbage".to_vec(),
            b"{\"version\":1,\"entries\":[{\"path\":".to_vec(),
            good.replace("\"version\":1", "\"version\":2").into_bytes(),
            good.replace(SUM, "sha256:zz").into_bytes(),
            good.replace("\"size\":1", "\"size\":-1").into_bytes(),
            good.as_bytes()[..good.len() / 2].to_vec(),
        ];
        for bytes in cases {
            std::fs::write(&file, &bytes).unwrap();
            let cache = ChecksumCache::load(&file);
            assert_eq!(
                cache.get(Path::new("/x"), key(1, 2, 3, 4)),
                None,
                "{bytes:?}"
            );
        }
        std::fs::write(&file, good).unwrap();
        let cache = ChecksumCache::load(&file);
        assert_eq!(
            cache.get(Path::new("/x"), key(1, 2, 3, 4)).as_deref(),
            Some(SUM)
        );
    }

    #[test]
    fn oversized_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.json");
        let f = std::fs::File::create(&file).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let cache = ChecksumCache::load(&file);
        assert!(cache.entries.is_empty());
    }

    #[test]
    fn saving_keeps_at_most_max_entries_preferring_served_paths() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.json");
        let mut cache = ChecksumCache::load(&file);
        for i in 0..MAX_ENTRIES + 10 {
            cache.insert(Path::new(&format!("/old/{i:07}")), key(1, 0, 0, 0), SUM);
        }
        cache.insert(Path::new("/served/z"), key(1, 0, 0, 0), SUM);
        cache.save(|p| p.starts_with("/served/"));
        let loaded = ChecksumCache::load(&file);
        assert_eq!(loaded.entries.len(), MAX_ENTRIES);
        assert!(loaded
            .get(Path::new("/served/z"), key(1, 0, 0, 0))
            .is_some());
    }
}
