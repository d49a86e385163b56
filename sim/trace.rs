//! The ordered event trace of one simulated run, and its hash.
//!
//! Every host appends what it saw, stamped with the simulation's time; hosts run one after
//! another within a step, so the order is as deterministic as the run. The hash folds in
//! each event in order, then each socket's datagram hash ([`LinkCounters::trace_hash`]):
//! two runs with equal hashes saw the same events at the same times and sent the same
//! bytes.
//!
//! [`LinkCounters::trace_hash`]: crate::net::LinkCounters

use std::fmt::Display;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One event: when (simulated time since the run began), and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// Simulated time since the run began.
    pub at: Duration,
    /// What happened, e.g. `platform: segment 3 of 00000000002a (524288 bytes)`.
    pub what: String,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a of `bytes`, continuing from `hash`.
pub(crate) fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    hash
}

#[derive(Debug, Default)]
struct Log {
    events: Vec<TraceEvent>,
}

/// A shared, append-only trace (cheap to clone; every host holds one).
#[derive(Debug, Clone, Default)]
pub struct Trace {
    log: Arc<Mutex<Log>>,
}

impl Trace {
    /// Appends `what`, stamped with the current simulated time (zero outside a host).
    pub fn record(&self, what: impl Display) {
        let at = turmoil::sim_elapsed().unwrap_or_default();
        self.lock().events.push(TraceEvent {
            at,
            what: what.to_string(),
        });
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<TraceEvent> {
        self.lock().events.clone()
    }

    /// The hash of the events so far, then of `socket_hashes` in order.
    pub fn hash(&self, socket_hashes: &[u64]) -> u64 {
        let mut h = FNV_OFFSET;
        for e in &self.lock().events {
            let nanos = u64::try_from(e.at.as_nanos()).unwrap_or(u64::MAX);
            h = fnv(h, &nanos.to_be_bytes());
            h = fnv(h, e.what.as_bytes());
        }
        for s in socket_hashes {
            h = fnv(h, &s.to_be_bytes());
        }
        h
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}
