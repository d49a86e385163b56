//! Read-only views of a running platform for operators' tools (the admin service in
//! `crate::service`): when each session connected, its QUIC connection's statistics,
//! every session's transfers at once, and a signal when the session table changes.
//!
//! Nothing here steers a connection; the hooks in the driver only record what the views
//! read (the connection handle and the instant it was accepted).

use super::{Platform, SessionInfo, TransferProgress};
use std::time::SystemTime;
use tokio::sync::watch;
use uuid::Uuid;

/// What the views keep per session beside its [`SessionInfo`].
#[derive(Default)]
pub(super) struct SessionView {
    connected_at: Option<SystemTime>,
    connection: Option<quinn::Connection>,
}

impl SessionView {
    /// The session's connection, once recorded.
    pub(super) fn connection(&self) -> Option<&quinn::Connection> {
        self.connection.as_ref()
    }
}

/// One session as an operator sees it: its info, when it connected, its transport figures.
#[derive(Debug, Clone)]
pub struct SessionDetails {
    /// Id, address, readiness and end.
    pub info: SessionInfo,
    /// When the platform accepted the connection (wall clock).
    pub connected_at: Option<SystemTime>,
    /// quinn's statistics of the connection (RTT, congestion window, lost packets...).
    pub connection: Option<quinn::ConnectionStats>,
}

impl Platform {
    /// Every session with its connection time and transport statistics.
    /// Live sessions first, then the finished ones the history keeps (without figures: their
    /// connection is gone).
    pub fn session_details(&self) -> Vec<SessionDetails> {
        let registry = self.lock_sessions();
        let live = registry.live_entries().map(|e| SessionDetails {
            info: e.info.clone(),
            connected_at: e.view.connected_at,
            connection: e.view.connection.as_ref().map(quinn::Connection::stats),
        });
        let finished = registry.finished().map(|info| SessionDetails {
            info: info.clone(),
            connected_at: None,
            connection: None,
        });
        live.chain(finished).collect()
    }

    /// A receiver that changes whenever a session connects, becomes ready or ends.
    pub fn session_changes(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// The transfers of every live session, by session (sessions that end while asked are
    /// left out).
    pub async fn all_transfers(&self) -> Vec<(Uuid, TransferProgress)> {
        let live: Vec<Uuid> = self
            .sessions()
            .into_iter()
            .filter(|s| !s.ended)
            .map(|s| s.session_id)
            .collect();
        let mut all = Vec::new();
        for session in live {
            if let Ok(transfers) = self.transfers(session).await {
                all.extend(transfers.into_iter().map(|t| (session, t)));
            }
        }
        all
    }

    /// Records the connection of a newly registered session (driver hook).
    pub(super) fn attach_connection(&self, session: Uuid, connection: &quinn::Connection) {
        if let Some(entry) = self.lock_sessions().live_mut(session) {
            entry.view = SessionView {
                connected_at: Some(SystemTime::now()),
                connection: Some(connection.clone()),
            };
        }
    }
}
