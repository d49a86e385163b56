//! The binary envelope of bidirectional streams (profile section 2) and the JSON envelope
//! the session machines read: the same message in both, converted by the drivers.

use crate::wire::{BinaryEnvelope, JsonEnvelope, Timestamp, WireError};
use uuid::Uuid;

/// The JSON envelope carrying `envelope`'s message, in session `session_id` (the binary
/// envelope has no session field).
pub(crate) fn binary_to_json(
    envelope: BinaryEnvelope,
    session_id: Uuid,
) -> Result<JsonEnvelope, WireError> {
    let timestamp = Timestamp::from_unix_millis(envelope.timestamp_ms()).ok_or_else(|| {
        WireError::FieldOutOfRange {
            kind: "BinaryEnvelope",
            field: "timestamp",
            value: envelope.timestamp_ms().to_string(),
            allowed: "a representable time",
        }
    })?;
    Ok(JsonEnvelope {
        message_type: envelope.message_type(),
        sequence_number: envelope.sequence_number(),
        timestamp,
        session_id,
        payload: envelope.into_payload(),
    })
}

/// The binary envelope carrying `envelope`'s message.
pub(crate) fn json_to_binary(envelope: &JsonEnvelope) -> Result<BinaryEnvelope, WireError> {
    BinaryEnvelope::new(
        envelope.message_type,
        envelope.sequence_number,
        u64::try_from(envelope.timestamp.unix_millis()).unwrap_or(0),
        envelope.payload.clone(),
    )
}

/// The wall-clock time now (simulated inside turmoil), for the machines' envelope
/// timestamps (`SessionConfig::epoch`).
pub(crate) fn wall_clock() -> Timestamp {
    let ms = crate::net::system_time()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_unix_millis(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Control messages handed to a machine in the order the peer opened their streams.
///
/// Each control message travels on its own stream, and QUIC orders nothing across streams;
/// stream tasks also finish in any order. The peer opens its streams in the order its
/// machine sent the messages (a reply to the handshake before the first request), so the
/// driver numbers streams as it accepts them (accept order is stream-id order) and delivers
/// what they carried in that order. A stream that carried no control message (a segment,
/// or a stream lost before its end) is released with `None` and delivers nothing.
#[derive(Debug)]
pub(crate) struct InOrder<T> {
    next: u64,
    waiting: std::collections::BTreeMap<u64, Option<T>>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            next: 0,
            waiting: std::collections::BTreeMap::new(),
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
