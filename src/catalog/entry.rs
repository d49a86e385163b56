//! One served file's cached state, and how it is brought up to date: a file is re-probed and
//! re-hashed whenever its stamp (size, modification time, and on Unix inode and change time)
//! differs from the one its cached checksum was computed for, so nothing stale is served.
//! Probing (cheap: the MP4 index) and hashing (a read of the whole file) are separate steps,
//! so a file can be served before its checksum is known (D100).

use super::cache::CacheKey;
use super::checksum::sha256_checksum;
use super::CatalogError;
use crate::media::probe::probe_file;
use crate::media::{FileFormat, MediaError, MediaInfo};
use crate::wire::{CodecInfo, FileEntry, Resolution};
use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How often a file that changes while it is being hashed is retried before giving up.
const MAX_HASH_ATTEMPTS: usize = 3;

/// What identifies one version of a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    size: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: u64,
    #[cfg(unix)]
    changed: (i64, i64),
}

impl FileStamp {
    pub(crate) fn of(metadata: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            size: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            inode: metadata.ino(),
            #[cfg(unix)]
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

impl FileStamp {
    /// The key of the persistent checksum cache: size, modification time, inode and change
    /// time (which a rewrite always bumps and nobody can set back, unlike the modification
    /// time). `None` for a file modified before the epoch, which is not cached.
    pub(crate) fn persistent_key(&self) -> Option<CacheKey> {
        let modified = self.modified?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        #[cfg(unix)]
        let (inode, changed) = (self.inode, self.changed);
        #[cfg(not(unix))]
        let (inode, changed) = (0, (0, 0));
        Some(CacheKey {
            size: self.size,
            mtime_secs: i64::try_from(modified.as_secs()).ok()?,
            mtime_nanos: modified.subsec_nanos(),
            inode,
            ctime_secs: changed.0,
            ctime_nanos: changed.1,
        })
    }
}

/// The probe, and once computed the checksum, of one version of a file.
#[derive(Debug, Clone)]
pub(crate) struct Probed {
    pub(crate) stamp: FileStamp,
    pub(crate) info: MediaInfo,
    /// `sha256:<hex>`; `None` until the file has been hashed.
    pub(crate) checksum: Option<String>,
}

/// A registered file's last known state.
#[derive(Debug, Clone)]
pub(crate) struct CachedFile {
    pub(crate) format: FileFormat,
    /// Last known size (from registration or the last probe).
    pub(crate) size: u64,
    /// Present once the file has been probed and hashed.
    pub(crate) probed: Option<Probed>,
}

/// A file found inside the root: its canonical path and metadata.
pub(crate) struct Located {
    pub(crate) canonical: PathBuf,
    pub(crate) metadata: Metadata,
}

/// Finds the regular file at `root/key`, following links only while they stay inside `root`
/// (which must be canonical). `None` when it is absent or leads elsewhere.
pub(crate) fn locate(root: &Path, key: &str) -> Option<Located> {
    let canonical = root.join(key).canonicalize().ok()?;
    if !canonical.starts_with(root) {
        return None;
    }
    let metadata = std::fs::metadata(&canonical).ok()?;
    metadata.is_file().then_some(Located {
        canonical,
        metadata,
    })
}

/// Probes `located` unless `cached` already holds that version's probe. The checksum is
/// carried over from `cached` for the same version, else taken from `known` (the persistent
/// cache's answer for this stamp), else left `None`.
pub(crate) fn probe(
    located: &Located,
    cached: Option<&Probed>,
    known: impl FnOnce(&FileStamp) -> Option<String>,
) -> Result<Probed, CatalogError> {
    let stamp = FileStamp::of(&located.metadata);
    if let Some(probed) = cached.filter(|p| p.stamp == stamp) {
        return Ok(probed.clone());
    }
    Ok(Probed {
        checksum: known(&stamp),
        stamp,
        info: probe_media(&located.canonical)?,
    })
}

/// Probes and hashes `located` unless `cached` already holds that version's results.
pub(crate) fn refresh(located: &Located, cached: Option<&Probed>) -> Result<Probed, CatalogError> {
    let mut stamp = FileStamp::of(&located.metadata);
    if let Some(probed) = cached.filter(|p| p.stamp == stamp && p.checksum.is_some()) {
        return Ok(probed.clone());
    }
    let path = &located.canonical;
    for attempt in 0..MAX_HASH_ATTEMPTS {
        if attempt > 0 {
            // Changed while we read it (or replaced): read the new version.
            let metadata = std::fs::metadata(path).map_err(|e| CatalogError::io(path, e))?;
            stamp = FileStamp::of(&metadata);
        }
        let info = match cached.filter(|p| p.stamp == stamp) {
            Some(probed) => probed.info.clone(),
            None => probe_media(path)?,
        };
        let mut file = File::open(path).map_err(|e| CatalogError::io(path, e))?;
        let checksum = sha256_checksum(&mut file).map_err(|e| CatalogError::io(path, e))?;
        let after = FileStamp::of(&file.metadata().map_err(|e| CatalogError::io(path, e))?);
        if after == stamp {
            return Ok(Probed {
                stamp,
                info,
                checksum: Some(checksum),
            });
        }
    }
    Err(CatalogError::io(
        path,
        std::io::Error::other("file keeps changing while it is hashed"),
    ))
}

/// The media information of a file. A file whose media cannot be parsed (a damaged MP4) is
/// still served as bytes, so that is not an error: it just has no media fields.
fn probe_media(path: &Path) -> Result<MediaInfo, CatalogError> {
    match probe_file(path) {
        Ok((_, info)) => Ok(info),
        Err(MediaError::Io(e)) => Err(CatalogError::io(path, e)),
        Err(_) => Ok(MediaInfo::default()),
    }
}

/// The FileListResponse entry for a file.
pub(crate) fn file_entry(key: &str, cached: &CachedFile, available: bool) -> FileEntry {
    let info = cached.probed.as_ref().map(|p| &p.info);
    let field = |f: fn(&MediaInfo) -> Option<f64>| info.and_then(f);
    let resolution = info.and_then(|i| Some(Resolution::new(i.width?, i.height?)));
    let codec = info
        .filter(|i| i.video_codec.is_some() || i.audio_codec.is_some())
        .map(|i| CodecInfo {
            video: i.video_codec.clone(),
            audio: i.audio_codec.clone(),
        });
    FileEntry {
        file_path: key.to_string(),
        file_size: cached.size,
        duration: field(|i| i.duration),
        format: cached.format.name().to_string(),
        available,
        resolution,
        codec,
        frame_rate: field(|i| i.frame_rate),
        bit_rate: info.and_then(|i| i.bit_rate),
        checksum: cached.probed.as_ref().and_then(|p| p.checksum.clone()),
    }
}
