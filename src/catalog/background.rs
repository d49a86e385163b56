//! The catalog's shared state and its background hasher (D100).
//!
//! Registering files queues them; one worker thread (started when there is work, gone when
//! the queue is empty or the catalog is dropped) probes and hashes them in registration
//! order, so by the time a platform asks for a file its checksum is usually known. A caller
//! that needs a checksum now ([`Shared::up_to_date`]) takes the file out of the queue and
//! hashes it itself, or, if the worker is hashing that very file, waits for it: a file is
//! never read twice at the same time by one catalog.

use super::cache::ChecksumCache;
use super::entry::{locate, probe, refresh, CachedFile, FileStamp, Located, Probed};
use super::CatalogError;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a long background run saves the persistent cache.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// How long a waiter sleeps before looking again (the worker notifies; this is a backstop).
const RECHECK: Duration = Duration::from_millis(200);

/// The registered files and the hashing queue.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Registered files by key, in path order.
    pub(crate) files: BTreeMap<String, CachedFile>,
    /// Keys waiting for the background worker.
    queue: VecDeque<String>,
    /// The key the worker is hashing now.
    hashing: Option<String>,
    /// Whether a worker thread is running.
    worker: bool,
    /// Set when the catalog is dropped: the worker stops after the file in hand.
    closed: bool,
}

/// What a catalog and its worker share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Canonical root directory.
    pub(crate) root: PathBuf,
    state: Mutex<State>,
    /// Notified whenever the worker finishes a file or stops.
    progress: Condvar,
    /// The persistent checksum cache, if the catalog keeps one.
    cache: Option<Mutex<ChecksumCache>>,
}

impl Shared {
    pub(crate) fn new(root: PathBuf, cache: Option<ChecksumCache>) -> Shared {
        Shared {
            root,
            state: Mutex::new(State::default()),
            progress: Condvar::new(),
            cache: cache.map(Mutex::new),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock cannot leave the state half-updated (every
        // update is a single insert, removal or field store), so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_cache(&self) -> Option<MutexGuard<'_, ChecksumCache>> {
        let cache = self.cache.as_ref()?;
        Some(cache.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Queues `keys` for hashing and makes sure a worker runs.
    pub(crate) fn enqueue(self: &Arc<Self>, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        let mut state = self.lock();
        state.queue.extend(keys);
        if state.worker || state.closed {
            return;
        }
        state.worker = true;
        drop(state);
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("catalog-hash".into())
            .spawn(move || shared.work());
        if let Err(e) = spawned {
            // Checksums are then computed when first needed, as without a worker.
            tracing::warn!("no background hashing thread: {e}");
            let mut state = self.lock();
            state.worker = false;
            state.queue.clear();
        }
    }

    /// The worker: hashes queued files until the queue is empty or the catalog is dropped.
    fn work(&self) {
        let mut last_save = Instant::now();
        loop {
            let key = {
                let mut state = self.lock();
                match state.queue.pop_front().filter(|_| !state.closed) {
                    Some(key) => {
                        state.hashing = Some(key.clone());
                        key
                    }
                    None => {
                        state.worker = false;
                        state.queue.clear();
                        break;
                    }
                }
            };
            if let Some(located) = locate(&self.root, &key) {
                if let Err(e) = self.up_to_date(&key, &located, false) {
                    tracing::debug!("background hashing of {key:?}: {e}");
                }
            }
            self.lock().hashing = None;
            self.progress.notify_all();
            if last_save.elapsed() >= SAVE_EVERY {
                self.save_cache();
                last_save = Instant::now();
            }
        }
        self.save_cache();
        self.progress.notify_all();
    }

    /// Blocks until the worker has nothing left to do.
    pub(crate) fn wait_idle(&self) {
        let mut state = self.lock();
        while state.worker {
            state = match self.progress.wait_timeout(state, RECHECK) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Marks the catalog dropped (the worker stops) and saves the persistent cache.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.save_cache();
    }

    /// Probes `located` (the file at `key`) and, if `with_checksum`, makes sure its checksum
    /// is known: from memory, the persistent cache, the worker (waiting for it if it is
    /// hashing this file now) or by hashing it here. Stores and returns the result.
    pub(crate) fn up_to_date(
        &self,
        key: &str,
        located: &Located,
        wait_for_worker: bool,
    ) -> Result<Probed, CatalogError> {
        loop {
            let mut state = self.lock();
            let cached = state.files.get(key).and_then(|c| c.probed.clone());
            let busy = wait_for_worker && state.hashing.as_deref() == Some(key);
            if !busy {
                state.queue.retain(|k| k != key);
            }
            drop(state);
            let probed = probe(located, cached.as_ref(), |stamp| {
                self.remembered(&located.canonical, stamp)
            })?;
            if probed.checksum.is_some() {
                self.store(key, located, &probed);
                return Ok(probed);
            }
            if busy {
                let state = self.lock();
                if state.hashing.as_deref() == Some(key) {
                    let _ = self.progress.wait_timeout(state, RECHECK);
                }
                continue;
            }
            let probed = refresh(located, Some(&probed))?;
            self.store(key, located, &probed);
            return Ok(probed);
        }
    }

    /// Probes `located` without hashing it; the checksum is filled in if already known.
    pub(crate) fn probe_only(&self, key: &str, located: &Located) -> Result<Probed, CatalogError> {
        let cached = self.lock().files.get(key).and_then(|c| c.probed.clone());
        let probed = probe(located, cached.as_ref(), |stamp| {
            self.remembered(&located.canonical, stamp)
        })?;
        self.store(key, located, &probed);
        Ok(probed)
    }

    /// The persistent cache's checksum for this file version.
    fn remembered(&self, path: &Path, stamp: &FileStamp) -> Option<String> {
        self.lock_cache()?.get(path, stamp.persistent_key()?)
    }

    fn store(&self, key: &str, located: &Located, probed: &Probed) {
        if let Some(cached) = self.lock().files.get_mut(key) {
            cached.size = located.metadata.len();
            cached.probed = Some(probed.clone());
        }
        if let (Some(checksum), Some(stamp_key)) = (&probed.checksum, probed.stamp.persistent_key())
        {
            if let Some(mut cache) = self.lock_cache() {
                cache.insert(&located.canonical, stamp_key, checksum);
            }
        }
    }

    fn save_cache(&self) {
        let Some(mut cache) = self.lock_cache() else {
            return;
        };
        if !cache.is_dirty() {
            return;
        }
        let root = self.root.to_str().map(|r| format!("{r}/"));
        cache.save(|path| root.as_deref().is_some_and(|r| path.starts_with(r)));
    }
}
