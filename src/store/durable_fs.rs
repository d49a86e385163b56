//! The file operations the durable store needs, behind one seam: real files
//! ([`OsFs`]) and a filesystem in memory that loses, at a simulated power cut, everything
//! that was not made durable ([`MemFs`]), so the journal's ordering rules are tested
//! against the failure they exist for (decision D61).
//!
//! # Durability model (the POSIX one, as [`MemFs`] applies it)
//! - File contents become durable on [`StoreFs::sync_file`] (`fsync`).
//! - A name (create, rename, remove) becomes durable when its directory is synced
//!   ([`StoreFs::sync_dir`]).
//! - At a crash, names fall back to their last durable state, and every file to its last
//!   synced contents; a file whose name was never made durable is gone.
//!
//! turmoil 0.7's `unstable-fs` feature has the same model for a crashed host; a `StoreFs`
//! over its shim can back the simulator with this very code path.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// File operations of the durable store.
pub trait StoreFs: Send + Sync {
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
    /// Creates `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The entries of `dir` (full paths), files and directories, in no set order.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// True when `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
}

/// Real files (`std::fs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsFs;

impl StoreFs for OsFs {
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
        std::fs::create_dir_all(dir)
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
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
    }
}
