//! Control messages handed to a machine in the order the peer opened their streams
//! (docs/protocol.md D32, D45; moved here from the crate's former `bridge.rs`).
//!
//! Each control message travels on its own stream, and QUIC orders nothing across streams;
//! stream tasks also finish in any order. The peer opens its streams in the order its
//! machine sent the messages (a reply to the handshake before the first request), so the
//! driver numbers streams as it accepts them (accept order is stream-id order) and delivers
//! what they carried in that order. A stream that carried no control message (a segment,
//! or a stream lost before its end) is released with `None` and delivers nothing.

use std::collections::BTreeMap;

/// Items released in stream order; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct InOrder<T> {
    next: u64,
    waiting: BTreeMap<u64, Option<T>>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            next: 0,
            waiting: BTreeMap::new(),
        }
    }
}

impl<T> InOrder<T> {
    /// Records what stream number `seq` carried; returns what is now deliverable, in order.
    pub(crate) fn push(&mut self, seq: u64, item: Option<T>) -> Vec<T> {
        if seq >= self.next {
            self.waiting.insert(seq, item);
        }
        let mut ready = Vec::new();
        while let Some(item) = self.waiting.remove(&self.next) {
            self.next += 1;
            ready.extend(item);
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::InOrder;

    #[test]
    fn items_come_out_in_stream_order_and_empty_streams_release_the_next() {
        let mut order = InOrder::default();
        assert!(order.push(1, Some("b")).is_empty());
        assert!(order.push(2, None).is_empty());
        assert_eq!(order.push(0, Some("a")), vec!["a", "b"]);
        assert_eq!(order.push(3, Some("d")), vec!["d"]);
        assert!(order.push(1, Some("late duplicate")).is_empty());
    }
}
