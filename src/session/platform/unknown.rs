//! Transfer ids seen in segment headers before their acknowledgement (D29, D51): each
//! waits `unknown_transfer_grace` from its first sighting, then is refused. Both lists
//! are capped, so a peer sending segments of made-up transfers cannot grow them.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::TransferId;

/// Unknown transfers whose grace runs at once; past it a new one is refused at once.
pub(super) const MAX_WAITING: usize = 256;
/// Expired unknown transfers remembered (so their late segments are refused without a
/// new grace); the oldest is forgotten first.
pub(super) const MAX_EXPIRED: usize = 256;

/// What to do with a segment of a transfer not acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sighting {
    /// Its grace runs: keep the stream waiting.
    Wait,
    /// Its grace is over (or no more can wait): refuse.
    Refuse,
}

#[derive(Debug, Default)]
pub(super) struct UnknownTransfers {
    /// First sighting of each transfer whose grace runs.
    waiting: HashMap<TransferId, Instant>,
    /// Transfers whose grace ended, most recent last.
    expired: VecDeque<TransferId>,
}

impl UnknownTransfers {
    /// A segment of `id` arrived at `now`.
    pub(super) fn sight(&mut self, now: Instant, id: TransferId, grace: Duration) -> Sighting {
        if let Some(&first) = self.waiting.get(&id) {
            return if first.checked_add(grace).is_none_or(|end| now < end) {
                Sighting::Wait
            } else {
                Sighting::Refuse
            };
        }
        if self.waiting.len() >= MAX_WAITING || self.expired.contains(&id) {
            return Sighting::Refuse;
        }
        self.waiting.insert(id, now);
        Sighting::Wait
    }

    /// `id` was acknowledged: it is no longer unknown.
    pub(super) fn accepted(&mut self, id: TransferId) {
        self.waiting.remove(&id);
        self.expired.retain(|&e| e != id);
    }

    /// Ends the graces that are over at `now`.
    pub(super) fn expire(&mut self, now: Instant, grace: Duration) {
        let over: Vec<TransferId> = self
            .waiting
            .iter()
            .filter(|(_, &first)| first.checked_add(grace).is_some_and(|end| end <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in over {
            self.waiting.remove(&id);
            self.expired.push_back(id);
            if self.expired.len() > MAX_EXPIRED {
                self.expired.pop_front();
            }
        }
    }

    /// The end of the earliest grace still running.
    pub(super) fn deadline(&self, grace: Duration) -> Option<Instant> {
        self.waiting
            .values()
            .filter_map(|first| first.checked_add(grace))
            .min()
    }

    /// Transfers remembered (waiting and expired): at most `MAX_WAITING + MAX_EXPIRED`.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.waiting.len() + self.expired.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graces_expire_and_both_lists_stay_capped() {
        let grace = Duration::from_secs(5);
        let t0 = Instant::now();
        let mut u = UnknownTransfers::default();
        let id = |v: u64| TransferId::new(v).unwrap();
        for v in 1..=10_000 {
            let expected = if v as usize <= MAX_WAITING {
                Sighting::Wait
            } else {
                Sighting::Refuse
            };
            assert_eq!(u.sight(t0, id(v), grace), expected, "{v}");
        }
        assert_eq!(u.len(), MAX_WAITING);
        assert_eq!(u.deadline(grace), Some(t0 + grace));
        u.expire(t0 + grace, grace);
        assert_eq!(u.deadline(grace), None);
        assert_eq!(u.len(), MAX_EXPIRED.min(MAX_WAITING));
        // A late segment of an expired transfer is refused without a new grace.
        assert_eq!(
            u.sight(t0 + grace, id(MAX_WAITING as u64), grace),
            Sighting::Refuse
        );
        // New ones wait again, and the expired list stays capped however many come.
        for round in 0..5u64 {
            let at = t0 + grace * (round as u32 + 2);
            for v in 0..MAX_WAITING as u64 {
                let _ = u.sight(at, id(100_000 + round * 1000 + v), grace);
            }
            u.expire(at + grace, grace);
            assert!(u.len() <= MAX_WAITING + MAX_EXPIRED);
        }
        u.accepted(id(100_000 + 4 * 1000));
        assert!(u.len() < MAX_EXPIRED + MAX_WAITING);
    }
}
