//! The file operations the durable store needs, behind one seam: real files
//! ([`OsFs`]), a filesystem in memory that loses, at a simulated power cut, everything
//! that was not made durable ([`MemFs`]), and, with the `sim` feature, the simulator's
//! platform host's own filesystem ([`TurmoilFs`], turmoil's `unstable-fs`), so that the
//! journal's ordering rules are tested against the failure they exist for (decisions D61,
//! D115). The received data (`.part`, spool files) is written through [`StoreFile`]
//! handles of the same seam, so real files and the simulated store share every line of the
//! platform above it.
//!
//! # Durability model (the POSIX one, as [`MemFs`] and turmoil apply it)
//! - File contents become durable on [`StoreFs::sync_file`] / [`StoreFile::sync_all`]
//!   (`fsync`).
//! - A name (create, rename, remove) becomes durable when its directory is synced
//!   ([`StoreFs::sync_dir`]). Directories made by [`StoreFs::create_dir_all`] are durable
//!   when it returns (each new directory's parent is synced).
//! - At a crash, names fall back to their last durable state, and every file to its last
//!   synced contents; a file whose name was never made durable is gone.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

#[cfg(feature = "sim")]
pub use super::sim_fs::TurmoilFs;

/// How [`StoreFs::open_file`] opens a file (always for reading and writing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Created if missing, truncated if present.
    Create,
    /// Must exist (`NotFound` otherwise); kept as it is.
    Existing,
}

/// An open file of the store: positioned reads and writes (several threads may write
/// disjoint ranges through one handle at once), sync, size.
pub trait StoreFile: Send + Sync + Debug {
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Writes every chunk, in order, contiguously from `offset` (one positioned vectored
    /// write per batch on real files, see [`super::write_chunks_at`]).
    fn write_chunks_at(&self, chunks: &[Bytes], offset: u64) -> io::Result<()>;
    /// Fills `buf` from `offset` (`UnexpectedEof` past the end).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Makes the contents durable (`fsync`).
    fn sync_all(&self) -> io::Result<()>;
    /// Makes the data durable (`fdatasync`; the size is data).
    fn sync_data(&self) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's size in bytes.
    fn size(&self) -> io::Result<u64>;
}

/// File operations of the durable store.
pub trait StoreFs: Send + Sync + Debug {
    /// Creates or truncates `path`, writes `bytes` and syncs the contents (not the name).
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Writes `bytes` at `offset` of `path`, creating it if needed (not synced).
    fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// The whole contents of `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Makes the contents of `path` durable (fsync).
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to` (atomic; durable once the directory is synced).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the names in directory `dir` durable (fsync of the directory).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates `dir` and its parents; the new names are durable when it returns.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The entries of `dir` (full paths), files and directories, in no set order.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// True when `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Opens the file `path` for positioned reads and writes.
    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>>;
    /// The size of the file `path` (`NotFound` when there is none).
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// True when journal commits may run on the store's commit thread (D119): the
    /// operating system's files may be used from any thread; the simulator's belong to
    /// their host's.
    fn commits_off_thread(&self) -> bool {
        false
    }
}

/// The operating system's file, as a [`StoreFile`]: the same system calls as a bare
/// `std::fs::File` (`pwrite`, `pwritev`, `pread`, `fsync`, `fdatasync`, `ftruncate`).
#[derive(Debug)]
pub struct OsFile(pub std::fs::File);

impl StoreFile for OsFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, buf, offset)
    }

    fn write_chunks_at(&self, chunks: &[Bytes], offset: u64) -> io::Result<()> {
        super::vectored::write_chunks_at(&self.0, chunks, offset)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.0, buf, offset)
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

/// Real files (`std::fs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsFs;

impl StoreFs for OsFs {
    fn commits_off_thread(&self) -> bool {
        true
    }

    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    }

    fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.write_all_at(bytes, offset)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        // fsync through any descriptor flushes the inode's dirty pages.
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        // The deepest folder that exists already: every name below it is new.
        let existing = dir.ancestors().skip(1).find(|a| a.is_dir());
        std::fs::create_dir_all(dir)?;
        for new in dir.ancestors().take_while(|a| Some(*a) != existing) {
            match new.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => self.sync_dir(parent)?,
                _ => self.sync_dir(Path::new("."))?,
            }
        }
        Ok(())
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>> {
        let create = mode == OpenMode::Create;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(create)
            .open(path)?;
        Ok(Arc::new(OsFile(file)))
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let meta = std::fs::metadata(path)?;
        if meta.is_dir() {
            return Err(io::Error::other(format!("{}: a folder", path.display())));
        }
        Ok(meta.len())
    }
}

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Debug, Default)]
struct MemState {
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    /// The namespace as the running program sees it.
    names: BTreeMap<PathBuf, u64>,
    /// The namespace as it would be found after a crash.
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: std::collections::BTreeSet<PathBuf>,
}

/// A filesystem in memory with power-cut semantics (see the module doc). Cheap to clone:
/// clones share the same files, as two processes on one host would.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<MemState>>,
    /// Journal commits run on the commit thread (D119), as with the operating system's.
    off_thread: bool,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl MemFs {
    /// An empty filesystem.
    pub fn new() -> Self {
        MemFs::default()
    }

    /// An empty filesystem whose journal commits run on the store's commit thread (D119).
    pub fn with_commit_thread() -> Self {
        MemFs {
            off_thread: true,
            ..MemFs::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemState> {
        // A poisoned lock only means a test panicked while holding it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A power cut: every name and every byte that was not made durable is lost.
    pub fn crash(&self) {
        let mut s = self.lock();
        s.names = s.durable_names.clone();
        let live: std::collections::BTreeSet<u64> = s.names.values().copied().collect();
        s.inodes.retain(|id, _| live.contains(id));
        for inode in s.inodes.values_mut() {
            inode.data = inode.synced.clone();
        }
    }

    fn inode_mut<'a>(s: &'a mut MemState, path: &Path) -> io::Result<&'a mut Inode> {
        let id = *s.names.get(path).ok_or_else(|| not_found(path))?;
        s.inodes.get_mut(&id).ok_or_else(|| not_found(path))
    }

    fn create(s: &mut MemState, path: &Path) -> u64 {
        if let Some(id) = s.names.get(path) {
            return *id;
        }
        let id = s.next_inode;
        s.next_inode += 1;
        s.inodes.insert(id, Inode::default());
        s.names.insert(path.to_path_buf(), id);
        id
    }
}

impl StoreFs for MemFs {
    fn commits_off_thread(&self) -> bool {
        self.off_thread
    }

    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        Self::create(&mut s, path);
        let inode = Self::inode_mut(&mut s, path)?;
        inode.data = bytes.to_vec();
        inode.synced = bytes.to_vec();
        Ok(())
    }

    fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        Self::create(&mut s, path);
        let inode = Self::inode_mut(&mut s, path)?;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let end = start + bytes.len();
        if inode.data.len() < end {
            inode.data.resize(end, 0);
        }
        inode.data[start..end].copy_from_slice(bytes);
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut s = self.lock();
        Ok(Self::inode_mut(&mut s, path)?.data.clone())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let inode = Self::inode_mut(&mut s, path)?;
        inode.synced = inode.data.clone();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let id = s.names.remove(from).ok_or_else(|| not_found(from))?;
        s.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let in_dir = |p: &Path| p.parent() == Some(dir);
        let current: Vec<(PathBuf, u64)> = s
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        s.durable_names.retain(|p, _| !in_dir(p));
        s.durable_names.extend(current);
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        // Directories are kept durable at once: the store only ever creates them before
        // it writes anything it relies on.
        for d in dir.ancestors() {
            s.dirs.insert(d.to_path_buf());
        }
        Ok(())
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let s = self.lock();
        let mut out: Vec<PathBuf> = s
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect();
        out.extend(s.dirs.iter().filter(|d| d.parent() == Some(dir)).cloned());
        Ok(out)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.lock().dirs.contains(path)
    }

    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>> {
        let mut s = self.lock();
        let id = match mode {
            OpenMode::Create => {
                let id = Self::create(&mut s, path);
                Self::inode_mut(&mut s, path)?.data.clear();
                id
            }
            OpenMode::Existing => *s.names.get(path).ok_or_else(|| not_found(path))?,
        };
        Ok(Arc::new(MemFile {
            state: Arc::clone(&self.state),
            id,
        }))
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let mut s = self.lock();
        Ok(Self::inode_mut(&mut s, path)?.data.len() as u64)
    }
}

/// An open file of a [`MemFs`]: it follows its inode through renames, as a descriptor
/// does.
#[derive(Debug)]
struct MemFile {
    state: Arc<Mutex<MemState>>,
    id: u64,
}

impl MemFile {
    fn with<R>(&self, f: impl FnOnce(&mut Inode) -> io::Result<R>) -> io::Result<R> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.inodes.get_mut(&self.id) {
            Some(inode) => f(inode),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the file is gone (lost at a crash)",
            )),
        }
    }
}

impl StoreFile for MemFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.with(|inode| {
            let start = usize::try_from(offset).map_err(io::Error::other)?;
            let end = start + buf.len();
            if inode.data.len() < end {
                inode.data.resize(end, 0);
            }
            inode.data[start..end].copy_from_slice(buf);
            Ok(())
        })
    }

    fn write_chunks_at(&self, chunks: &[Bytes], mut offset: u64) -> io::Result<()> {
        for chunk in chunks {
            self.write_all_at(chunk, offset)?;
            offset += chunk.len() as u64;
        }
        Ok(())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.with(|inode| {
            let start = usize::try_from(offset).map_err(io::Error::other)?;
            let src = inode
                .data
                .get(start..start + buf.len())
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            buf.copy_from_slice(src);
            Ok(())
        })
    }

    fn sync_all(&self) -> io::Result<()> {
        self.with(|inode| {
            inode.synced = inode.data.clone();
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync_all()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(|inode| {
            inode
                .data
                .resize(usize::try_from(len).map_err(io::Error::other)?, 0);
            Ok(())
        })
    }

    fn size(&self) -> io::Result<u64> {
        self.with(|inode| Ok(inode.data.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_keeps_only_synced_bytes_under_synced_names() {
        let fs = MemFs::new();
        let dir = Path::new("/out");
        fs.create_dir_all(dir).unwrap();
        fs.write_at(&dir.join("a"), 0, b"hello").unwrap();
        fs.sync_file(&dir.join("a")).unwrap();
        fs.sync_dir(dir).unwrap();
        fs.write_at(&dir.join("a"), 5, b" world").unwrap();
        fs.write_at(&dir.join("b"), 0, b"never named durably")
            .unwrap();
        fs.sync_file(&dir.join("b")).unwrap();
        fs.rename(&dir.join("a"), &dir.join("c")).unwrap();
        fs.crash();
        assert_eq!(fs.read(&dir.join("a")).unwrap(), b"hello");
        assert!(fs.read(&dir.join("b")).is_err());
        assert!(fs.read(&dir.join("c")).is_err());
    }

    #[test]
    fn a_crash_keeps_only_what_an_open_file_synced() {
        let fs = MemFs::new();
        let dir = Path::new("/out");
        fs.create_dir_all(dir).unwrap();
        let file = fs.open_file(&dir.join("a.part"), OpenMode::Create).unwrap();
        file.write_chunks_at(&[Bytes::from_static(b"he"), Bytes::from_static(b"llo")], 0)
            .unwrap();
        file.sync_all().unwrap();
        fs.sync_dir(dir).unwrap();
        file.write_all_at(b" world", 5).unwrap();
        let mut back = [0u8; 11];
        file.read_exact_at(&mut back, 0).unwrap();
        assert_eq!(&back, b"hello world");
        assert_eq!(file.size().unwrap(), 11);
        // The handle follows its file through a rename, as a descriptor does.
        fs.rename(&dir.join("a.part"), &dir.join("b")).unwrap();
        file.write_all_at(b"!", 11).unwrap();
        assert_eq!(fs.read(&dir.join("b")).unwrap(), b"hello world!");
        fs.crash();
        assert_eq!(fs.file_len(&dir.join("a.part")).unwrap(), 5);
        assert!(fs.open_file(&dir.join("b"), OpenMode::Existing).is_err());
        let again = fs
            .open_file(&dir.join("a.part"), OpenMode::Existing)
            .unwrap();
        let mut short = [0u8; 6];
        assert_eq!(
            again.read_exact_at(&mut short, 0).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn os_fs_round_trips_and_syncs() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = OsFs;
        let p = tmp.path().join("x");
        fs.write_at(&p, 3, b"abc").unwrap();
        fs.sync_file(&p).unwrap();
        fs.sync_dir(tmp.path()).unwrap();
        assert_eq!(fs.read(&p).unwrap(), b"\0\0\0abc");
        fs.rename(&p, &tmp.path().join("y")).unwrap();
        assert_eq!(fs.read_dir(tmp.path()).unwrap(), [tmp.path().join("y")]);
        let deep = tmp.path().join("s1/s2");
        fs.create_dir_all(&deep).unwrap();
        assert!(fs.is_dir(&deep));
        let file = fs.open_file(&deep.join("z"), OpenMode::Create).unwrap();
        file.write_chunks_at(&[Bytes::from_static(b"ab"), Bytes::from_static(b"c")], 1)
            .unwrap();
        file.sync_data().unwrap();
        assert_eq!(file.size().unwrap(), 4);
        assert_eq!(fs.file_len(&deep.join("z")).unwrap(), 4);
        let mut back = [0u8; 3];
        file.read_exact_at(&mut back, 1).unwrap();
        assert_eq!(&back, b"abc");
        file.set_len(1).unwrap();
        assert_eq!(fs.read(&deep.join("z")).unwrap(), b"\0");
        assert!(fs
            .open_file(&deep.join("none"), OpenMode::Existing)
            .is_err());
        assert!(fs.file_len(&deep).is_err());
    }
}
