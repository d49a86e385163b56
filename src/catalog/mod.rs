//! The files a client serves: registration, FileListQuery filtering, checksums.
//!
//! A [`Catalog`] answers the two questions a platform asks of a client's disk: "what do you
//! have?" (FileListQuery, answered by [`Catalog::list`]) and "give me this one"
//! (FileRequest, checked by [`Catalog::resolve`]). Keys are root-relative `/`-separated
//! paths (profile section 5). Every answer is checked against the disk at the time it is
//! given: a file that changed is re-probed and re-hashed, one that vanished is listed as
//! unavailable, and a path that is malformed, unregistered or leaves the root through a link
//! is refused with one indistinguishable [`CatalogError::NotFound`].
//!
//! Probing and hashing are lazy (first `list` or `resolve`) and cached per file version,
//! keyed by its stamp (size, modification time; on Unix also inode and change time).
//! The cache sits behind a `Mutex`, held only to read or store entries, never while a file
//! is hashed, so a catalog can be shared (`Arc<Catalog>`) by concurrent tasks.

mod checksum;
mod entry;
mod error;
mod filter;
mod walk;

pub use error::CatalogError;

use crate::media::{FileFormat, MediaInfo};
use crate::wire::FileEntry;
use entry::{file_entry, locate, refresh, CachedFile};
use filter::FileFilter;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The files one client serves, under one root directory.
#[derive(Debug)]
pub struct Catalog {
    /// Canonical root directory.
    root: PathBuf,
    /// Registered files by key, in path order.
    files: Mutex<BTreeMap<String, CachedFile>>,
}

/// A file a FileRequest may be served from, checked against the disk just now.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedFile {
    /// The catalog key (root-relative, `/`-separated), as requested.
    pub file_path: String,
    /// The absolute, canonical path to read.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Format from the key's extension.
    pub format: FileFormat,
    /// Media metadata (empty for non-media files and damaged MP4s).
    pub media: MediaInfo,
    /// `sha256:<hex>` of the whole file.
    pub checksum: String,
}

impl Catalog {
    /// A catalog serving files under `root`, initially empty.
    ///
    /// Errors: the root does not exist ([`CatalogError::Io`]) or is not a directory.
    pub fn new(root: impl Into<PathBuf>) -> Result<Catalog, CatalogError> {
        let given = root.into();
        let root = given
            .canonicalize()
            .map_err(|e| CatalogError::io(&given, e))?;
        if !root.is_dir() {
            return Err(CatalogError::RootNotADirectory(given));
        }
        Ok(Catalog {
            root,
            files: Mutex::new(BTreeMap::new()),
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Registers a file, or every file under a directory (recursively). A relative `path` is
    /// taken relative to the root. Returns how many files were found.
    ///
    /// Errors: [`CatalogError::OutsideRoot`] if `path` (after following links) is outside
    /// the root; [`CatalogError::UnservableName`] for a file whose name cannot be a
    /// `file_path`; I/O errors. Inside a directory, links leaving the root and unservable
    /// names are skipped silently.
    pub fn register(&self, path: impl AsRef<Path>) -> Result<usize, CatalogError> {
        let found = walk::find_files(&self.root, path.as_ref())?;
        let count = found.len();
        let mut files = self.lock();
        for file in found {
            let cached = CachedFile {
                // The content decides (D72); an unreadable file keeps its extension's.
                format: FileFormat::detect(&self.root.join(&file.key))
                    .unwrap_or_else(|_| FileFormat::from_path(Path::new(&file.key))),
                size: file.size,
                probed: None,
            };
            files.entry(file.key).or_insert(cached);
        }
        Ok(count)
    }

    /// Registers every file under the root.
    pub fn register_root(&self) -> Result<usize, CatalogError> {
        let root = self.root.clone();
        self.register(root)
    }

    /// The registered files that pass `filter` (profile section 7), sorted by path, with
    /// every FileEntry field filled. Files that changed are re-probed and re-hashed first; a
    /// file that vanished, left the root or cannot be read is listed with `available: false`
    /// and its last known fields.
    pub fn list(&self, filter: Option<&str>) -> Vec<FileEntry> {
        let keys: Vec<(String, String)> = self
            .lock()
            .iter()
            .map(|(key, cached)| (key.clone(), cached.format.name().to_string()))
            .collect();
        let filter = FileFilter::parse(filter, keys.iter().map(|(_, format)| format.as_str()));
        keys.iter()
            .filter(|(key, format)| filter.matches(key, format))
            .filter_map(|(key, _)| self.refresh_entry(key))
            .collect()
    }

    /// Checks a FileRequest's `file_path` and returns what to serve.
    ///
    /// Every refusal is the same [`CatalogError::NotFound`] (404): empty, absolute, `.` or
    /// `..` components, empty components, backslash or NUL, not registered, vanished, not a
    /// regular file, or reached through a link that leaves the root. I/O errors while
    /// hashing a file that is there give [`CatalogError::Io`] (500).
    pub fn resolve(&self, file_path: &str) -> Result<ResolvedFile, CatalogError> {
        let not_found = || CatalogError::NotFound {
            file_path: file_path.to_string(),
        };
        if !is_well_formed(file_path) {
            return Err(not_found());
        }
        let Some(located) = locate(&self.root, file_path) else {
            // Registered or not, a missing file is the same 404; keep the entry for `list`.
            return Err(not_found());
        };
        let (cached_probe, format) = {
            let files = self.lock();
            let cached = files.get(file_path).ok_or_else(not_found)?;
            (cached.probed.clone(), cached.format.clone())
        };
        let probed = refresh(&located, cached_probe.as_ref())?;
        let resolved = ResolvedFile {
            file_path: file_path.to_string(),
            path: located.canonical,
            size: located.metadata.len(),
            format,
            media: probed.info.clone(),
            checksum: probed.checksum.clone(),
        };
        if let Some(cached) = self.lock().get_mut(file_path) {
            cached.size = resolved.size;
            cached.probed = Some(probed);
        }
        Ok(resolved)
    }

    /// Brings one entry up to date and returns its FileEntry; `None` if it is not registered.
    fn refresh_entry(&self, key: &str) -> Option<FileEntry> {
        let cached_probe = self.lock().get(key)?.probed.clone();
        let probed = locate(&self.root, key).and_then(|located| {
            let size = located.metadata.len();
            refresh(&located, cached_probe.as_ref())
                .ok()
                .map(|p| (p, size))
        });
        let mut files = self.lock();
        let cached = files.get_mut(key)?;
        let available = probed.is_some();
        if let Some((probed, size)) = probed {
            cached.size = size;
            cached.probed = Some(probed);
        }
        Some(file_entry(key, cached, available))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, CachedFile>> {
        // A panic elsewhere while holding the lock cannot leave the map half-updated (every
        // update is a single insert or field store), so a poisoned lock is still usable.
        self.files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `file_path` has the shape of a catalog key: relative, `/`-separated, no empty,
/// `.` or `..` components, no backslash or NUL.
fn is_well_formed(file_path: &str) -> bool {
    !file_path.is_empty()
        && !file_path.starts_with('/')
        && !file_path.contains(['\\', '\0'])
        && file_path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::is_well_formed;

    #[test]
    fn well_formed_paths() {
        assert!(is_well_formed("a/b.mp4"));
        assert!(is_well_formed("b.mp4"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../b",
            "a//b",
            "./a",
            "a\\b",
            "a\0b",
            "a/",
        ] {
            assert!(!is_well_formed(bad), "{bad:?}");
        }
    }
}
