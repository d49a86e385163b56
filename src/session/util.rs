//! Small pieces both machines share: the envelope clock, the transfer-id generator, the
//! outgoing sequence counter and a run-length set of segment indices.

use std::collections::BTreeMap;
use std::time::Instant;

use uuid::Uuid;

use crate::wire::{JsonEnvelope, Message, Timestamp, TransferId};

/// Numbers and timestamps outgoing envelopes.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    start: Instant,
    epoch: Timestamp,
    next_seq: u64,
}

impl Outbox {
    pub(crate) fn new(start: Instant, epoch: Timestamp) -> Self {
        Outbox {
            start,
            epoch,
            next_seq: 1,
        }
    }

    /// `epoch` plus the time since `start` (the epoch itself if that overflows).
    pub(crate) fn timestamp(&self, now: Instant) -> Timestamp {
        let elapsed = now.saturating_duration_since(self.start);
        time::Duration::try_from(elapsed)
            .ok()
            .and_then(|d| self.epoch.as_offset_date_time().checked_add(d))
            .and_then(Timestamp::new)
            .unwrap_or(self.epoch)
    }

    /// Wraps `message` with the next sequence number.
    pub(crate) fn wrap(&mut self, now: Instant, message: &Message, session: Uuid) -> JsonEnvelope {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        JsonEnvelope::wrap(message, seq, self.timestamp(now), session)
    }
}

/// SplitMix64 drawing 48-bit transfer ids: never 0.
#[derive(Debug, Clone)]
pub(crate) struct IdGenerator {
    state: u64,
}

impl IdGenerator {
    pub(crate) fn new(seed: u64) -> Self {
        IdGenerator { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A non-zero 48-bit id for which `taken` is false.
    pub(crate) fn transfer_id(&mut self, taken: impl Fn(TransferId) -> bool) -> TransferId {
        loop {
            let v = self.next_u64() & 0xFFFF_FFFF_FFFF;
            if let Some(id) = TransferId::new(v) {
                if v != 0 && !taken(id) {
                    return id;
                }
            }
        }
    }
}

/// A set of u32 stored as disjoint inclusive runs: memory grows with the number of gaps,
/// not with the number of members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunSet {
    /// start -> end (inclusive), disjoint and not adjacent.
    runs: BTreeMap<u32, u32>,
    len: u64,
}

impl RunSet {
    pub(crate) fn contains(&self, v: u32) -> bool {
        self.runs
            .range(..=v)
            .next_back()
            .is_some_and(|(_, &end)| v <= end)
    }

    /// Inserts `v`; false when it was already present.
    pub(crate) fn insert(&mut self, v: u32) -> bool {
        if self.contains(v) {
            return false;
        }
        let mut start = v;
        let mut end = v;
        if let Some((&s, &e)) = self.runs.range(..v).next_back() {
            if e.checked_add(1) == Some(v) {
                start = s;
                self.runs.remove(&s);
            }
        }
        if let Some(next) = v.checked_add(1) {
            if let Some(e) = self.runs.remove(&next) {
                end = e;
            }
        }
        self.runs.insert(start, end);
        self.len += 1;
        true
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// True when every value of `start..end` (exclusive end) is present.
    pub(crate) fn covers(&self, start: u32, end: u32) -> bool {
        if start >= end {
            return true;
        }
        self.runs
            .range(..=start)
            .next_back()
            .is_some_and(|(_, &e)| u64::from(e) + 1 >= u64::from(end))
    }

    /// The runs, inclusive, ascending.
    pub(crate) fn runs(&self) -> Vec<(u32, u32)> {
        self.runs.iter().map(|(&s, &e)| (s, e)).collect()
    }
}

/// Merges `[start, end)` into sorted disjoint ranges (touching ranges join, within 1 µs).
pub(crate) fn merge_range(ranges: &mut Vec<(f64, f64)>, start: f64, end: f64) {
    if !start.is_finite() || !end.is_finite() || end < start {
        return;
    }
    ranges.push((start, end));
    ranges.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(ranges.len());
    for &(s, e) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 + 1e-6 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_set_merges_and_covers() {
        let mut s = RunSet::default();
        for v in [5, 3, 4, 0, 2, 1, 9] {
            assert!(s.insert(v));
        }
        assert!(!s.insert(4));
        assert_eq!(s.runs(), vec![(0, 5), (9, 9)]);
        assert_eq!(s.len(), 7);
        assert!(s.covers(0, 6));
        assert!(!s.covers(0, 7));
        assert!(s.covers(9, 10));
        assert!(s.insert(u32::MAX));
        assert!(s.contains(u32::MAX));
    }

    #[test]
    fn ids_are_48_bit_non_zero_and_distinct() {
        let mut g = IdGenerator::new(0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = g.transfer_id(|t| seen.contains(&t));
            assert!(id.value() != 0 && id.value() < (1 << 48));
            assert!(seen.insert(id));
        }
    }
}
