//! The platform's receive-memory budget, shared among its connections.
//!
//! QUIC flow control bounds what a peer may send beyond what the application has read: a
//! connection's receive window. When clients send faster than the platform can write,
//! that much per connection waits in memory. The specification's 50 MiB window is right
//! for one client on a long fat path, but ten clients at once could park 500 MiB. So the
//! platform gives each live connection `budget / connections`, within
//! `[MIN_WINDOW, configured window]`, and re-shares whenever a connection comes or goes
//! (`docs/protocol.md` D38).

use std::sync::{Arc, Mutex};

/// No connection's window is cut below this (a 4 MiB window still carries ~330 Mbit/s
/// over a 100 ms round trip).
pub(super) const MIN_WINDOW: u64 = 4 * 1024 * 1024;

/// Live connections and the budget they share.
#[derive(Debug)]
pub(super) struct ReceiveBudget {
    total: u64,
    max_window: u64,
    live: Mutex<Vec<quinn::Connection>>,
}

impl ReceiveBudget {
    /// A budget of `total` bytes; no connection gets more than `max_window`.
    pub(super) fn new(total: u64, max_window: u64) -> Arc<Self> {
        Arc::new(ReceiveBudget {
            total,
            max_window,
            live: Mutex::new(Vec::new()),
        })
    }

    /// The window each of `connections` live connections gets.
    pub(super) fn share(&self, connections: usize) -> u64 {
        let fair = self.total / connections.max(1) as u64;
        fair.min(self.max_window)
            .max(MIN_WINDOW.min(self.max_window))
    }

    /// Counts `conn` in until the returned guard drops; every live connection's window
    /// is re-set to the new share.
    pub(super) fn join(self: &Arc<Self>, conn: &quinn::Connection) -> BudgetShare {
        let mut live = self.lock();
        live.push(conn.clone());
        self.reshare(&live);
        BudgetShare {
            budget: Arc::clone(self),
            id: conn.stable_id(),
        }
    }

    fn leave(&self, id: usize) {
        let mut live = self.lock();
        live.retain(|c| c.stable_id() != id);
        self.reshare(&live);
    }

    fn reshare(&self, live: &[quinn::Connection]) {
        let window = quinn::VarInt::from_u64(self.share(live.len())).unwrap_or(quinn::VarInt::MAX);
        for conn in live {
            conn.set_receive_window(window);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<quinn::Connection>> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One connection's place in the budget; leaving re-shares it.
#[derive(Debug)]
pub(super) struct BudgetShare {
    budget: Arc<ReceiveBudget>,
    id: usize,
}

impl Drop for BudgetShare {
    fn drop(&mut self) {
        self.budget.leave(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn one_connection_gets_the_full_window_and_many_share_the_budget() {
        let budget = ReceiveBudget::new(64 * MIB, 50 * MIB);
        assert_eq!(budget.share(0), 50 * MIB);
        assert_eq!(budget.share(1), 50 * MIB);
        assert_eq!(budget.share(2), 32 * MIB);
        assert_eq!(budget.share(10), 64 * MIB / 10);
        assert_eq!(budget.share(100), MIN_WINDOW);
    }

    #[test]
    fn a_configured_window_below_the_floor_is_kept() {
        let budget = ReceiveBudget::new(64 * MIB, MIB);
        assert_eq!(budget.share(1), MIB);
        assert_eq!(budget.share(1000), MIB);
    }
}
