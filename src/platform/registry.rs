//! The platform's session registry: the live sessions with their command channels, and a
//! bounded history of finished ones (`PlatformConfig::session_history`, D51). A session
//! leaves the live table when its connection task ends, so the registry does not grow
//! with the number of clients ever seen. It also answers the machine's re-attachment
//! question (D52): does it hold a finished session with this id?

use super::{Command, SessionInfo};
use std::collections::{BTreeMap, VecDeque};
use tokio::sync::mpsc;
use uuid::Uuid;

pub(super) struct SessionEntry {
    pub(super) info: SessionInfo,
    pub(super) commands: mpsc::UnboundedSender<Command>,
    /// What the operators' views read beside the info (`views.rs`).
    pub(super) view: super::views::SessionView,
}

pub(super) struct Registry {
    live: BTreeMap<Uuid, SessionEntry>,
    /// Finished sessions, oldest first, at most `history` of them.
    finished: VecDeque<SessionInfo>,
    history: usize,
}

impl Registry {
    pub(super) fn new(history: usize) -> Registry {
        Registry {
            live: BTreeMap::new(),
            finished: VecDeque::new(),
            history,
        }
    }

    /// Every live session, then the finished ones kept (oldest first).
    pub(super) fn list(&self) -> Vec<SessionInfo> {
        self.live
            .values()
            .map(|e| e.info.clone())
            .chain(self.finished.iter().cloned())
            .collect()
    }

    pub(super) fn live_ids(&self) -> Vec<Uuid> {
        self.live.keys().copied().collect()
    }

    pub(super) fn live_len(&self) -> usize {
        self.live.len()
    }

    pub(super) fn finished_len(&self) -> usize {
        self.finished.len()
    }

    /// Every live entry (the operators' views read them).
    pub(super) fn live_entries(&self) -> impl Iterator<Item = &SessionEntry> {
        self.live.values()
    }

    /// The finished sessions kept, oldest first.
    pub(super) fn finished(&self) -> impl Iterator<Item = &SessionInfo> {
        self.finished.iter()
    }

    /// A live entry to change (the views' driver hooks).
    pub(super) fn live_mut(&mut self, id: Uuid) -> Option<&mut SessionEntry> {
        self.live.get_mut(&id)
    }

    pub(super) fn entry(&self, id: Uuid) -> Option<&SessionEntry> {
        self.live.get(&id).filter(|e| !e.info.ended)
    }

    pub(super) fn register(&mut self, info: SessionInfo, commands: mpsc::UnboundedSender<Command>) {
        self.live.insert(
            info.session_id,
            SessionEntry {
                info,
                commands,
                view: super::views::SessionView::default(),
            },
        );
    }

    /// Changes a live session's entry (re-keyed when its id changes).
    pub(super) fn update(&mut self, id: Uuid, f: impl FnOnce(&mut SessionInfo)) {
        if let Some(mut entry) = self.live.remove(&id) {
            f(&mut entry.info);
            self.live.insert(entry.info.session_id, entry);
        }
    }

    /// The connection of session `id` ended: it moves to the bounded history.
    pub(super) fn retire(&mut self, id: Uuid) {
        let Some(entry) = self.live.remove(&id) else {
            return;
        };
        if self.history == 0 {
            return;
        }
        if self.finished.len() >= self.history {
            self.finished.pop_front();
        }
        self.finished.push_back(entry.info);
    }

    /// The re-attachment question (D52): if `previous` is a finished session kept in the
    /// history, the live session `current` takes its id (it leaves the history) and true
    /// is returned; otherwise nothing changes.
    pub(super) fn reattach(&mut self, current: Uuid, previous: Uuid) -> bool {
        if self.live.contains_key(&previous) || !self.live.contains_key(&current) {
            return false;
        }
        let Some(pos) = self.finished.iter().position(|i| i.session_id == previous) else {
            return false;
        };
        self.finished.remove(pos);
        self.update(current, |info| {
            info.session_id = previous;
            info.previous_session = Some(previous);
        });
        true
    }
}
