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
//! Probes and checksums are cached per file version, keyed by its stamp (size, modification
//! time; on Unix also inode and change time). Registering files starts hashing them on a
//! background thread (D100), and a catalog made [`with_checksum_cache`](Catalog::with_checksum_cache)
//! keeps the checksums in a file across restarts, so a FileRequest usually finds its
//! checksum known; [`Catalog::resolve_at_once`] serves a file without waiting for one.
//! The state sits behind a `Mutex`, held only to read or store entries, never while a file
//! is hashed, so a catalog can be shared (`Arc<Catalog>`) by concurrent tasks.

mod background;
mod cache;
mod checksum;
mod entry;
mod error;
mod filter;
mod walk;

pub use error::CatalogError;

use crate::media::{FileFormat, MediaInfo};
use crate::wire::FileEntry;
use background::Shared;
use entry::{file_entry, locate, CachedFile, FileStamp, Located};
use filter::FileFilter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The files one client serves, under one root directory.
#[derive(Debug)]
pub struct Catalog {
    shared: Arc<Shared>,
}

impl Drop for Catalog {
    fn drop(&mut self) {
        self.shared.close();
    }
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

/// A file a FileRequest may be served from at once: like [`ResolvedFile`], with the checksum
/// only if it is already known (D100).
#[derive(Debug, Clone, PartialEq)]
pub struct ServedFile {
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
    /// `sha256:<hex>` of the whole file, if known now; else
    /// [`Catalog::checksum`] gives it when computed.
    pub checksum: Option<String>,
    /// The version served, to match the later checksum against.
    version: FileStamp,
}

impl Catalog {
    /// A catalog serving files under `root`, initially empty.
    ///
    /// Errors: the root does not exist ([`CatalogError::Io`]) or is not a directory.
    pub fn new(root: impl Into<PathBuf>) -> Result<Catalog, CatalogError> {
        Catalog::build(root.into(), None)
    }

    /// A catalog like [`Catalog::new`] that keeps the checksums it computes in `cache_file`
    /// (created if absent; an unusable one is ignored and replaced) and reuses them across
    /// restarts for files whose path, size, modification time and inode are unchanged.
    pub fn with_checksum_cache(
        root: impl Into<PathBuf>,
        cache_file: impl Into<PathBuf>,
    ) -> Result<Catalog, CatalogError> {
        Catalog::build(root.into(), Some(cache::ChecksumCache::load(cache_file)))
    }

    fn build(given: PathBuf, cache: Option<cache::ChecksumCache>) -> Result<Catalog, CatalogError> {
        let root = given
            .canonicalize()
            .map_err(|e| CatalogError::io(&given, e))?;
        if !root.is_dir() {
            return Err(CatalogError::RootNotADirectory(given));
        }
        Ok(Catalog {
            shared: Arc::new(Shared::new(root, cache)),
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Blocks until the background hashing of registered files is over (for tests,
    /// benchmarks and tools that want every checksum known).
    pub fn wait_for_checksums(&self) {
        self.shared.wait_idle();
    }

    /// Registers a file, or every file under a directory (recursively). A relative `path` is
    /// taken relative to the root. Returns how many files were found.
    ///
    /// Errors: [`CatalogError::OutsideRoot`] if `path` (after following links) is outside
    /// the root; [`CatalogError::UnservableName`] for a file whose name cannot be a
    /// `file_path`; I/O errors. Inside a directory, links leaving the root and unservable
    /// names are skipped silently. Newly registered files are hashed in the background.
    pub fn register(&self, path: impl AsRef<Path>) -> Result<usize, CatalogError> {
        let found = walk::find_files(self.root(), path.as_ref())?;
        let count = found.len();
        let mut state = self.shared.lock();
        let mut new = Vec::new();
        for file in found {
            let cached = CachedFile {
                // The content decides (D72); an unreadable file keeps its extension's.
                format: FileFormat::detect(&self.root().join(&file.key))
                    .unwrap_or_else(|_| FileFormat::from_path(Path::new(&file.key))),
                size: file.size,
                probed: None,
            };
            if let std::collections::btree_map::Entry::Vacant(slot) =
                state.files.entry(file.key.clone())
            {
                slot.insert(cached);
                new.push(file.key);
            }
        }
        drop(state);
        self.shared.enqueue(new);
        Ok(count)
    }

    /// Registers every file under the root.
    pub fn register_root(&self) -> Result<usize, CatalogError> {
        let root = self.root().to_path_buf();
        self.register(root)
    }

    /// The registered files that pass `filter` (profile section 7), sorted by path, with
    /// every FileEntry field filled. Files that changed are re-probed and re-hashed first; a
    /// file that vanished, left the root or cannot be read is listed with `available: false`
    /// and its last known fields.
    pub fn list(&self, filter: Option<&str>) -> Vec<FileEntry> {
        let keys: Vec<(String, String)> = self
            .shared
            .lock()
            .files
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
        let (key, located) = self.locate_registered(file_path)?;
        let probed = self.shared.up_to_date(key, &located, true)?;
        let format = self.format_of(key)?;
        Ok(ResolvedFile {
            file_path: file_path.to_string(),
            size: located.metadata.len(),
            path: located.canonical,
            format,
            media: probed.info,
            checksum: probed.checksum.unwrap_or_default(),
        })
    }

    /// Like [`Catalog::resolve`], without waiting for the checksum (D100): the answer carries
    /// it only if it is already known (hashed in the background, or remembered from an
    /// earlier run). [`Catalog::checksum`] then gives it.
    pub fn resolve_at_once(&self, file_path: &str) -> Result<ServedFile, CatalogError> {
        let (key, located) = self.locate_registered(file_path)?;
        let probed = self.shared.probe_only(key, &located)?;
        let format = self.format_of(key)?;
        Ok(ServedFile {
            file_path: file_path.to_string(),
            size: located.metadata.len(),
            path: located.canonical,
            format,
            media: probed.info,
            checksum: probed.checksum,
            version: probed.stamp,
        })
    }

    /// The checksum of a file served by [`Catalog::resolve_at_once`], blocking until it is
    /// computed (taking the file out of the background queue, or waiting for the background
    /// worker if it is hashing it now). An error if the file vanished or cannot be read; if
    /// it changed meanwhile, the checksum of its current version, which the platform's
    /// whole-file check then rejects (as it should: the bytes sent were a mix of versions).
    pub fn checksum(&self, served: &ServedFile) -> Result<String, CatalogError> {
        if let Some(checksum) = &served.checksum {
            return Ok(checksum.clone());
        }
        let (key, located) = self.locate_registered(&served.file_path)?;
        let probed = self.shared.up_to_date(key, &located, true)?;
        if probed.stamp != served.version {
            tracing::warn!(
                "{} changed while it was served; the platform's checksum check will fail",
                served.file_path
            );
        }
        probed.checksum.ok_or_else(|| {
            CatalogError::io(&located.canonical, std::io::Error::other("not hashed"))
        })
    }

    /// Checks a `file_path` and finds its file: every refusal is the same 404.
    fn locate_registered<'a>(
        &self,
        file_path: &'a str,
    ) -> Result<(&'a str, Located), CatalogError> {
        let not_found = || CatalogError::NotFound {
            file_path: file_path.to_string(),
        };
        if !is_well_formed(file_path) {
            return Err(not_found());
        }
        if !self.shared.lock().files.contains_key(file_path) {
            return Err(not_found());
        }
        // Registered or not, a missing file is the same 404; keep the entry for `list`.
        let located = locate(self.root(), file_path).ok_or_else(not_found)?;
        Ok((file_path, located))
    }

    fn format_of(&self, key: &str) -> Result<FileFormat, CatalogError> {
        let state = self.shared.lock();
        let cached = state.files.get(key).ok_or_else(|| CatalogError::NotFound {
            file_path: key.to_string(),
        })?;
        Ok(cached.format.clone())
    }

    /// Brings one entry up to date and returns its FileEntry; `None` if it is not registered.
    fn refresh_entry(&self, key: &str) -> Option<FileEntry> {
        let available = locate(self.root(), key)
            .and_then(|located| self.shared.up_to_date(key, &located, true).ok())
            .is_some();
        let state = self.shared.lock();
        let cached = state.files.get(key)?;
        Some(file_entry(key, cached, available))
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
