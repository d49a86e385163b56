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

/// The wall-clock time now, for the machines' envelope timestamps (`SessionConfig::epoch`).
pub(crate) fn wall_clock() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_unix_millis(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}
