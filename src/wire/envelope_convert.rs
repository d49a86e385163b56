//! The binary envelope of bidirectional streams (profile section 2) and the JSON envelope
//! the session machines read carry the same message: the conversions both ways (moved
//! here from the crate's former `bridge.rs`, issue 10).

use super::{BinaryEnvelope, JsonEnvelope, Timestamp, WireError};
use uuid::Uuid;

impl BinaryEnvelope {
    /// The JSON envelope carrying this message, in session `session_id` (the binary
    /// envelope has no session field). A timestamp that is not a representable time is
    /// 400.
    pub fn into_json(self, session_id: Uuid) -> Result<JsonEnvelope, WireError> {
        let timestamp = Timestamp::from_unix_millis(self.timestamp_ms()).ok_or_else(|| {
            WireError::FieldOutOfRange {
                kind: "BinaryEnvelope",
                field: "timestamp",
                value: self.timestamp_ms().to_string(),
                allowed: "a representable time",
            }
        })?;
        Ok(JsonEnvelope {
            message_type: self.message_type(),
            sequence_number: self.sequence_number(),
            timestamp,
            session_id,
            payload: self.into_payload(),
        })
    }

    /// The binary envelope carrying `envelope`'s message (a time before the epoch is 0).
    pub fn from_json(envelope: &JsonEnvelope) -> Result<BinaryEnvelope, WireError> {
        BinaryEnvelope::new(
            envelope.message_type,
            envelope.sequence_number,
            u64::try_from(envelope.timestamp.unix_millis()).unwrap_or(0),
            envelope.payload.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::wire::{BinaryEnvelope, JsonEnvelope, Message, Timestamp};

    #[test]
    fn a_message_survives_both_conversions() {
        let at = Timestamp::from_unix_millis(1_700_000_000_123).unwrap();
        let session = uuid::Uuid::from_u128(9);
        let json = JsonEnvelope::wrap(&Message::SessionEnd, 7, at, session);
        let binary = BinaryEnvelope::from_json(&json).unwrap();
        let back = binary.into_json(session).unwrap();
        assert_eq!(back, json);
    }
}
