//! [`TurmoilFs`]: the durable store on the simulated host's own filesystem (turmoil 0.7's
//! `unstable-fs`), so that `Sim::crash` is a power cut for the platform (decision D115):
//! what was synced survives, everything else written is lost.
//!
//! Every operation enters the host's filesystem through an `FsHandle` captured on the
//! host, so it works from any task, any host's turn, and from the harness between steps.
//!
//! turmoil keeps each unsynced write as one pending operation and scans them all on every
//! file operation; a QUIC stream hands over about one packet per write, which made a run
//! with several transfers at once quadratic. A [`TurmoilFile`] therefore gathers
//! contiguous writes in memory and hands them to turmoil as one write before anything else
//! touches the filesystem (any read, size, sync, rename, or an operation by path): what
//! a crash loses is the same (both are unsynced), and every read sees every write.

use super::durable_fs::{OpenMode, StoreFile, StoreFs};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use turmoil::fs::shim::std::fs as sim;
use turmoil::fs::{FsHandle, FsHandleGuard};

/// Bytes a [`TurmoilFile`] gathers before it hands them to turmoil.
const GATHER_LIMIT: usize = 4 << 20;

/// The simulated host's filesystem (cheap to clone: clones share the host's files and the
/// handles' gathered writes).
#[derive(Clone)]
pub struct TurmoilFs {
    inner: Arc<Inner>,
}

struct Inner {
    handle: FsHandle,
    /// The open files, to hand over what they gathered before any operation by path.
    open: Mutex<Vec<Weak<TurmoilFile>>>,
}

impl std::fmt::Debug for TurmoilFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TurmoilFs")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TurmoilFs {
    /// The filesystem of the turmoil host this is called on (it survives the host's
    /// crashes and restarts; `Sim::crash` drops what it holds unsynced).
    ///
    /// # Panics
    /// Outside a turmoil host (turmoil's own rule).
    pub fn current() -> Self {
        TurmoilFs {
            inner: Arc::new(Inner {
                handle: FsHandle::current(),
                open: Mutex::new(Vec::new()),
            }),
        }
    }

    fn enter(&self) -> FsHandleGuard {
        self.inner.handle.enter()
    }

    /// Hands every open file's gathered writes to turmoil (before an operation by path).
    fn flush_all(&self) -> io::Result<()> {
        let files: Vec<Arc<TurmoilFile>> = {
            let mut open = lock(&self.inner.open);
            open.retain(|w| w.strong_count() > 0);
            open.iter().filter_map(Weak::upgrade).collect()
        };
        for file in files {
            file.flush()?;
        }
        Ok(())
    }

    /// Runs `f` on the host's filesystem after every gathered write was handed over.
    fn by_path<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.flush_all()?;
        let _entered = self.enter();
        f()
    }
}

impl StoreFs for TurmoilFs {
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.by_path(|| {
            let file = sim::File::create(path)?;
            file.write_all_at(bytes, 0)?;
            file.sync_all()
        })
    }

    fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.by_path(|| {
            sim::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?
                .write_all_at(bytes, offset)
        })
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.by_path(|| sim::read(path))
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.by_path(|| sim::OpenOptions::new().write(true).open(path)?.sync_all())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.by_path(|| sim::rename(from, to))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.by_path(|| sim::remove_file(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.by_path(|| sim::sync_dir(dir))
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.by_path(|| {
            if sim::metadata(dir).is_ok_and(|m| m.is_dir()) {
                return Ok(());
            }
            sim::create_dir_all(dir)?;
            // New folders are durable at once, as `OsFs` makes them (D115): each is synced
            // from the root down (turmoil's sync of a folder also keeps its own name).
            let mut down: Vec<&Path> = dir.ancestors().collect();
            down.reverse();
            for d in down.into_iter().filter(|d| !d.as_os_str().is_empty()) {
                sim::sync_dir(d)?;
            }
            Ok(())
        })
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        // turmoil lists a folder in no set order (a hash set): sorted, so that a run
        // replays by seed.
        let mut entries = self.by_path(|| {
            sim::read_dir(dir)?
                .map(|e| e.map(|e| e.path()))
                .collect::<io::Result<Vec<_>>>()
        })?;
        entries.sort();
        Ok(entries)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.by_path(|| Ok(sim::metadata(path).is_ok_and(|m| m.is_dir())))
            .unwrap_or(false)
    }

    fn open_file(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>> {
        let create = mode == OpenMode::Create;
        let file = self.by_path(|| {
            sim::OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(create)
                .open(path)
        })?;
        let file = Arc::new(TurmoilFile {
            fs: self.clone(),
            file: Some(file),
            gathered: Mutex::new(Gathered::default()),
        });
        lock(&self.inner.open).push(Arc::downgrade(&file));
        Ok(file)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.by_path(|| {
            let meta = sim::metadata(path)?;
            if meta.is_dir() {
                return Err(io::Error::other(format!("{}: a folder", path.display())));
            }
            Ok(meta.len())
        })
    }
}

/// Writes not yet handed to turmoil: disjoint runs by start offset.
#[derive(Default)]
struct Gathered {
    runs: BTreeMap<u64, Vec<u8>>,
    bytes: usize,
}

/// An open file of a [`TurmoilFs`].
pub(super) struct TurmoilFile {
    fs: TurmoilFs,
    /// Some until dropped (closed on the host's filesystem).
    file: Option<sim::File>,
    gathered: Mutex<Gathered>,
}

impl std::fmt::Debug for TurmoilFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TurmoilFile")
    }
}

impl TurmoilFile {
    fn file(&self) -> io::Result<&sim::File> {
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("file closed"))
    }

    /// Hands the gathered writes to turmoil (in offset order: they are disjoint).
    fn flush(&self) -> io::Result<()> {
        let runs = {
            let mut g = lock(&self.gathered);
            g.bytes = 0;
            std::mem::take(&mut g.runs)
        };
        if runs.is_empty() {
            return Ok(());
        }
        let file = self.file()?;
        let _entered = self.fs.enter();
        for (at, data) in runs {
            file.write_all_at(&data, at)?;
        }
        Ok(())
    }

    /// Runs `f` on the host's filesystem after this file's gathered writes were handed over.
    fn on_host<R>(&self, f: impl FnOnce(&sim::File) -> io::Result<R>) -> io::Result<R> {
        self.flush()?;
        let file = self.file()?;
        let _entered = self.fs.enter();
        f(file)
    }

    /// Gathers `parts` (contiguous from `offset`): appended to the run ending at `offset`,
    /// or a new run; anything overlapping what is gathered goes to turmoil first, so that
    /// the later write wins as it would on a disk.
    fn gather(&self, parts: &[&[u8]], offset: u64) -> io::Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len == 0 {
            return Ok(());
        }
        let end = offset + len as u64;
        let overlaps = {
            let g = lock(&self.gathered);
            // The last run starting before `end` is the only one that can overlap.
            g.runs
                .range(..end)
                .next_back()
                .is_some_and(|(&at, data)| at + data.len() as u64 > offset)
                || g.bytes + len > GATHER_LIMIT
        };
        if overlaps {
            self.flush()?;
        }
        let mut g = lock(&self.gathered);
        let append_to = g
            .runs
            .range(..=offset)
            .next_back()
            .filter(|(&at, data)| at + data.len() as u64 == offset)
            .map(|(&at, _)| at);
        let run = g.runs.entry(append_to.unwrap_or(offset)).or_default();
        for p in parts {
            run.extend_from_slice(p);
        }
        g.bytes += len;
        // A run that now reaches the next one is left as it is: runs stay disjoint.
        Ok(())
    }
}

impl StoreFile for TurmoilFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.gather(&[buf], offset)
    }

    fn write_chunks_at(&self, chunks: &[Bytes], offset: u64) -> io::Result<()> {
        let parts: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
        self.gather(&parts, offset)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.on_host(|f| f.read_exact_at(buf, offset))
    }

    fn sync_all(&self) -> io::Result<()> {
        self.on_host(sim::File::sync_all)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.on_host(sim::File::sync_data)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.on_host(|f| f.set_len(len))
    }

    fn size(&self) -> io::Result<u64> {
        self.on_host(|f| Ok(f.metadata()?.len()))
    }
}

impl Drop for TurmoilFile {
    fn drop(&mut self) {
        // Closing keeps what was written (it is in the page cache, not yet durable).
        let _ = self.flush();
        if let Some(file) = self.file.take() {
            let _entered = self.fs.enter();
            drop(file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A power cut on a turmoil host keeps exactly what was synced, through the seam.
    #[test]
    fn a_crash_of_the_host_keeps_only_synced_writes() {
        let mut sim = turmoil::Builder::new().build();
        let fs: Arc<Mutex<Option<TurmoilFs>>> = Arc::default();
        let dir = Path::new("/out/s1");
        let part = dir.join("a.part");
        let (slot, p) = (Arc::clone(&fs), part.clone());
        sim.host("platform", move || {
            let (slot, p) = (Arc::clone(&slot), p.clone());
            async move {
                let fs = TurmoilFs::current();
                *lock(&slot) = Some(fs.clone());
                fs.create_dir_all(p.parent().unwrap()).unwrap();
                let file = fs.open_file(&p, OpenMode::Create).unwrap();
                file.write_chunks_at(&[Bytes::from_static(b"he"), Bytes::from_static(b"llo")], 0)
                    .unwrap();
                file.sync_all().unwrap();
                fs.sync_dir(p.parent().unwrap()).unwrap();
                file.write_all_at(b"world", 10).unwrap();
                file.write_all_at(b" ", 5).unwrap();
                let mut back = [0u8; 15];
                file.read_exact_at(&mut back, 0).unwrap();
                assert_eq!(&back, b"hello \0\0\0\0world");
                assert_eq!(fs.file_len(&p).unwrap(), 15);
                std::future::pending::<()>().await;
                let never: turmoil::Result = Ok(());
                never
            }
        });
        sim.step().unwrap();
        let fs = lock(&fs).clone().unwrap();
        assert_eq!(fs.file_len(&part).unwrap(), 15);
        sim.crash("platform");
        assert_eq!(fs.file_len(&part).unwrap(), 5);
        assert_eq!(fs.read(&part).unwrap(), b"hello");
        assert!(fs.is_dir(dir));
        assert_eq!(fs.read_dir(dir).unwrap(), [part]);
    }
}
