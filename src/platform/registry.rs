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
    /// The connection's number: a newer connection of the same session has a higher one
    /// and wins (D66).
    pub(super) generation: u64,
    /// What the operators' views read beside the info (`views.rs`).
    pub(super) view: super::views::SessionView,
    /// When the connection last received anything, whether it holds transfers (D117).
    pub(super) liveness: super::supersede::Liveness,
}

/// The registry's answer to a re-attachment (D52, D66).
pub(super) enum Reattach {
    /// No such session: the connection keeps its own id.
    NotHeld,
    /// A finished session of the history: re-attached.
    Finished,
    /// A live session of an older connection: re-attached; the old one must be closed.
    Superseding(mpsc::UnboundedSender<Command>),
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

    pub(super) fn register(
        &mut self,
        info: SessionInfo,
        commands: mpsc::UnboundedSender<Command>,
        (generation, now): (u64, std::time::Instant),
    ) {
        self.live.insert(
            info.session_id,
            SessionEntry {
                info,
                commands,
                generation,
                view: super::views::SessionView::default(),
                liveness: super::supersede::Liveness::new(now),
            },
        );
    }

    /// True when the live entry of `id` is the one of connection `generation`.
    pub(super) fn is_generation(&self, id: Uuid, generation: u64) -> bool {
        self.live
            .get(&id)
            .is_some_and(|e| e.generation == generation)
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
    /// history, the live session `current` takes its id (it leaves the history). If it is
    /// the live session of an older connection (stalled: QUIC has not noticed yet), the
    /// newer connection wins (D66): the old entry leaves the table (its connection is to
    /// be closed; its end changes nothing here) and `current` takes the id. Otherwise
    /// nothing changes.
    pub(super) fn reattach(&mut self, current: Uuid, previous: Uuid) -> Reattach {
        let Some(generation) = self.live.get(&current).map(|e| e.generation) else {
            return Reattach::NotHeld;
        };
        let answer = match self.live.get(&previous) {
            Some(old) if old.generation < generation && previous != current => {
                match self.live.remove(&previous) {
                    Some(old) => Reattach::Superseding(old.commands),
                    None => return Reattach::NotHeld,
                }
            }
            Some(_) => return Reattach::NotHeld,
            None => {
                let Some(pos) = self.finished.iter().position(|i| i.session_id == previous) else {
                    return Reattach::NotHeld;
                };
                self.finished.remove(pos);
                Reattach::Finished
            }
        };
        self.update(current, |info| {
            info.session_id = previous;
            info.previous_session = Some(previous);
        });
        answer
    }
}
