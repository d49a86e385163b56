//! What a simulated link does to each datagram a socket sends: the seeded decisions of
//! [`SimUdpSocket`](crate::net::SimUdpSocket), kept free of I/O so they can be tested alone.
//!
//! In order, for every datagram: drop it if it exceeds the path's MTU; send one or
//! (duplication) two copies; each copy waits in a drop-tail queue for a link of limited
//! rate (serialization: a datagram leaves when the link has sent everything queued before
//! it, taking `(len + 28) * 8 / rate` seconds, the 28 bytes of IPv4 and UDP headers
//! included; a copy arriving at a queue already holding `queue_packets` datagrams is
//! dropped); a datagram drawn as lost takes its turn on the link and then vanishes (so
//! loss costs capacity, as on a real path); then, with the reordering probability, a copy
//! is held back `reorder_delay` more, so later datagrams overtake it. turmoil then adds the
//! link's propagation latency.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// IPv4 (20) and UDP (8) header bytes a datagram occupies on the link beside its payload.
const IP_UDP_HEADERS: u64 = 28;

/// Faults and limits applied to each datagram a socket sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkFaults {
    /// Probability that a datagram is dropped (0.0-1.0).
    pub loss: f64,
    /// Probability that a datagram is sent twice.
    pub duplicate: f64,
    /// Datagrams larger than this are dropped, as on a real path (IP MTU minus headers).
    pub max_datagram: usize,
    /// Link capacity in bits per second (headers included); None: no limit, no queue.
    pub rate_bps: Option<u64>,
    /// Datagrams the link's drop-tail queue holds behind the one being sent.
    pub queue_packets: usize,
    /// Probability that a datagram is held back `reorder_delay` after the queue.
    pub reorder: f64,
    /// How long a reordered datagram is held back.
    pub reorder_delay: Duration,
}

impl Default for LinkFaults {
    fn default() -> Self {
        // 1500-byte Ethernet MTU minus 20 (IPv4) and 8 (UDP) header bytes.
        LinkFaults {
            loss: 0.0,
            duplicate: 0.0,
            max_datagram: 1472,
            rate_bps: None,
            queue_packets: 64,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
        }
    }
}

/// Counters of what the link did to outgoing datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Datagrams handed to the simulated network.
    pub sent: u64,
    /// Datagrams dropped by `loss`.
    pub lost: u64,
    /// Extra copies sent by `duplicate`.
    pub duplicated: u64,
    /// Datagrams dropped for exceeding `max_datagram`.
    pub oversized: u64,
    /// Datagrams dropped because the link's queue was full.
    pub queue_dropped: u64,
    /// Datagrams held back by `reorder`.
    pub reordered: u64,
    /// Datagrams the simulated network refused (e.g. partitioned link).
    pub refused: u64,
    /// Bytes handed to the simulated network (payloads only).
    pub bytes: u64,
    /// Hash over every datagram handed to the network: simulated send time, destination
    /// and contents. Equal hashes mean identical traffic.
    pub trace_hash: u64,
}

const HASH_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const HASH_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over 8-byte words (the tail byte-wise): a cheap hash for comparing traffic, not
/// a cryptographic one. Every datagram goes through it, so it must be fast.
fn mix(mut h: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(HASH_PRIME);
        h ^= h >> 29;
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(HASH_PRIME);
    }
    h
}

impl LinkCounters {
    /// Counts one datagram handed to the network at `at` (time since the simulation began).
    pub(crate) fn record_sent(&mut self, at: Duration, to: SocketAddr, contents: &[u8]) {
        self.sent += 1;
        self.bytes += contents.len() as u64;
        let at = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        let mut h = if self.trace_hash == 0 {
            HASH_OFFSET
        } else {
            self.trace_hash
        };
        h = mix(h, &at.to_be_bytes());
        let port = to.port().to_be_bytes();
        h = match to.ip() {
            std::net::IpAddr::V4(ip) => mix(h, &ip.octets()),
            std::net::IpAddr::V6(ip) => mix(h, &ip.octets()),
        };
        h = mix(h, &port);
        self.trace_hash = mix(h, contents);
    }
}

/// A datagram waiting to leave: released to the network at `at`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Held {
    /// When it leaves.
    pub(crate) at: Instant,
    /// Admission order: ties leave in the order they were sent.
    seq: u64,
    /// Where to.
    pub(crate) to: SocketAddr,
    /// The datagram.
    pub(crate) contents: Vec<u8>,
}

/// The link's state: seeded generator, queue, datagrams held for later release.
pub(crate) struct Link {
    rng: SmallRng,
    pub(crate) faults: LinkFaults,
    pub(crate) counters: LinkCounters,
    /// Departure times of the datagrams in the queue (the one being sent first).
    queue: VecDeque<Instant>,
    /// When the link finishes sending everything queued.
    free_at: Option<Instant>,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

impl Link {
    pub(crate) fn new(faults: LinkFaults, seed: u64) -> Self {
        Link {
            rng: SmallRng::seed_from_u64(seed),
            faults,
            counters: LinkCounters::default(),
            queue: VecDeque::new(),
            free_at: None,
            held: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Decides the fate of one datagram sent at `now`. Copies that leave at once are
    /// returned; the others are held (see [`Link::release_due`]).
    pub(crate) fn admit(&mut self, now: Instant, datagram: &[u8], to: SocketAddr) -> Admitted {
        let mut out = Admitted::default();
        if datagram.len() > self.faults.max_datagram {
            self.counters.oversized += 1;
            return out;
        }
        let lost = chance(&mut self.rng, self.faults.loss);
        let copies = if !lost && chance(&mut self.rng, self.faults.duplicate) {
            self.counters.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let Some(mut leaves) = self.enqueue(now, datagram.len()) else {
                self.counters.queue_dropped += 1;
                continue;
            };
            if lost {
                // It took its turn on the link, and never arrives.
                self.counters.lost += 1;
                continue;
            }
            if chance(&mut self.rng, self.faults.reorder) {
                self.counters.reordered += 1;
                leaves += self.faults.reorder_delay;
            }
            if leaves <= now {
                out.now += 1;
            } else {
                out.earliest_changed |= self.peek().is_none_or(|first| leaves < first);
                self.seq += 1;
                self.held.push(Reverse(Held {
                    at: leaves,
                    seq: self.seq,
                    to,
                    contents: datagram.to_vec(),
                }));
            }
        }
        out
    }

    /// When a datagram of `len` bytes entering the queue at `now` leaves the link; None
    /// if the queue is full.
    fn enqueue(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(rate) = self.faults.rate_bps.filter(|&r| r > 0) else {
            return Some(now);
        };
        while self.queue.front().is_some_and(|&left| left <= now) {
            self.queue.pop_front();
        }
        // The datagram being sent plus `queue_packets` waiting behind it.
        if self.queue.len() > self.faults.queue_packets {
            return None;
        }
        let bits = (len as u64 + IP_UDP_HEADERS) * 8;
        let nanos = bits.saturating_mul(1_000_000_000) / rate;
        let start = self.free_at.filter(|&f| f > now).unwrap_or(now);
        let leaves = start + Duration::from_nanos(nanos.max(1));
        self.free_at = Some(leaves);
        self.queue.push_back(leaves);
        Some(leaves)
    }

    /// When the next held datagram leaves.
    pub(crate) fn peek(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse(h)| h.at)
    }

    /// Removes and returns the held datagrams due at `now`, in departure order.
    pub(crate) fn release_due(&mut self, now: Instant) -> Vec<Held> {
        let mut due = Vec::new();
        while self.peek().is_some_and(|at| at <= now) {
            if let Some(Reverse(h)) = self.held.pop() {
                due.push(h);
            }
        }
        due
    }
}

/// What [`Link::admit`] decided for one datagram.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// Copies to send at once.
    pub(crate) now: usize,
    /// A held copy now leaves before every other held datagram (wake the releaser).
    pub(crate) earliest_changed: bool,
}

fn chance(rng: &mut SmallRng, p: f64) -> bool {
    p > 0.0 && rng.random_bool(p.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], 1))
    }

    #[test]
    fn a_rate_limited_link_serializes_and_drops_at_the_queue_tail() {
        let faults = LinkFaults {
            rate_bps: Some(10_000_000),
            queue_packets: 2,
            ..LinkFaults::default()
        };
        let mut link = Link::new(faults, 1);
        let t0 = Instant::now();
        // 1222 + 28 bytes = 10,000 bits = 1 ms at 10 Mbit/s.
        let datagram = vec![0u8; 1222];
        for _ in 0..4 {
            link.admit(t0, &datagram, addr());
        }
        assert_eq!(link.counters.queue_dropped, 1, "one sending, two waiting");
        assert!(link.release_due(t0).is_empty());
        let first = link.release_due(t0 + Duration::from_millis(1));
        assert_eq!(first.len(), 1);
        let rest = link.release_due(t0 + Duration::from_millis(3));
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[1].at, t0 + Duration::from_millis(3));
        // The queue drained: a new datagram is accepted and leaves 1 ms later.
        link.admit(t0 + Duration::from_millis(3), &datagram, addr());
        assert_eq!(link.peek(), Some(t0 + Duration::from_millis(4)));
    }

    #[test]
    fn reordered_datagrams_are_overtaken() {
        let faults = LinkFaults {
            reorder: 1.0,
            reorder_delay: Duration::from_millis(5),
            ..LinkFaults::default()
        };
        let mut link = Link::new(faults, 1);
        let t0 = Instant::now();
        let admitted = link.admit(t0, b"late", addr());
        assert_eq!(admitted.now, 0);
        assert!(admitted.earliest_changed);
        link.faults.reorder = 0.0;
        assert_eq!(link.admit(t0, b"early", addr()).now, 1);
        let due = link.release_due(t0 + Duration::from_millis(5));
        assert_eq!(due[0].contents, b"late");
    }

    #[test]
    fn the_same_seed_makes_the_same_decisions() {
        let faults = LinkFaults {
            loss: 0.3,
            duplicate: 0.3,
            ..LinkFaults::default()
        };
        let run = |seed| {
            let mut link = Link::new(faults, seed);
            let t0 = Instant::now();
            (0..200)
                .map(|_| link.admit(t0, b"x", addr()).now)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }
}
