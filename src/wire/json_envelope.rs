//! The JSON envelope: how control messages travel on unidirectional streams.
//!
//! One envelope per stream, the stream finished right after it (profile section 2). The
//! first byte of what we write is always `{`, which is how a receiver tells an envelope from
//! a segment.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use bytes::BufMut;
use serde_json::Value;
use uuid::Uuid;

use super::json_fields::{write_json, Fields, ObjectWriter};
use super::{Message, MessageType, Timestamp, WireError};

const KIND: &str = "JsonEnvelope";

/// Standard alphabet; we write padding and read with or without it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A control message in the JSON envelope.
///
/// # Format
/// ```text
/// {"message_type":"StatusResponse",     name of the type (a number only for unknown types)
///  "payload":"AMg=",                    standard base64, padded
///  "sequence_number":2,                 JSON number, u64
///  "timestamp":"2025-12-11T01:16:26Z",  RFC 3339, UTC
///  "session_id":"550e8400-e29b-41d4-a716-446655440000"}   hyphenated lowercase
/// ```
/// Fields are written in this order, compact; unknown fields are ignored when reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonEnvelope {
    /// What the payload is.
    pub message_type: MessageType,
    /// The payload bytes (base64 on the wire).
    pub payload: Vec<u8>,
    /// The sender's sequence number; replies quote it as `ack` (profile section 4).
    pub sequence_number: u64,
    /// When the message was sent.
    pub timestamp: Timestamp,
    /// The session; the nil UUID from a fresh client (profile section 7).
    pub session_id: Uuid,
}

impl JsonEnvelope {
    /// An envelope carrying `message`, encoded.
    pub fn wrap(
        message: &Message,
        sequence_number: u64,
        timestamp: Timestamp,
        session_id: Uuid,
    ) -> Self {
        JsonEnvelope {
            message_type: message.message_type(),
            payload: message.to_payload(),
            sequence_number,
            timestamp,
            session_id,
        }
    }

    /// The payload decoded as the message its type announces.
    pub fn message(&self) -> Result<Message, WireError> {
        Message::decode(self.message_type, &self.payload)
    }

    /// Writes the envelope as compact JSON.
    pub fn encode(&self, buf: &mut impl BufMut) {
        let message_type = match self.message_type.name() {
            Some(name) => Value::from(name),
            None => Value::from(self.message_type.to_u8()),
        };
        let obj = ObjectWriter::default()
            .put("message_type", message_type)
            .put("payload", BASE64.encode(&self.payload))
            .put("sequence_number", self.sequence_number)
            .put("timestamp", self.timestamp.to_string())
            .put("session_id", self.session_id.hyphenated().to_string());
        write_json(&obj.into_value(), buf);
    }

    /// The envelope as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Reads one envelope; the whole input must be that one JSON object (whitespace aside).
    ///
    /// Every failure is a 400: not JSON, not an object, a field missing or of the wrong
    /// type, an unknown type name, a payload that is not base64.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let f = Fields::parse(KIND, bytes)?;
        let message_type = match f.get("message_type") {
            None => {
                return Err(WireError::MissingField {
                    kind: KIND,
                    field: "message_type",
                })
            }
            Some(Value::String(name)) => MessageType::from_name(name)
                .ok_or_else(|| WireError::UnknownMessageName(name.clone()))?,
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u8::try_from(n).ok()) {
                Some(b) => MessageType::from_u8(b),
                None => return Err(f.range_error("message_type", n, "a name, or 0-255")),
            },
            Some(_) => {
                return Err(WireError::FieldType {
                    kind: KIND,
                    field: "message_type",
                    expected: "a message type name",
                })
            }
        };
        let payload = BASE64
            .decode(f.req_str("payload")?)
            .map_err(|_| WireError::FieldType {
                kind: KIND,
                field: "payload",
                expected: "standard base64",
            })?;
        let sequence_number = f.req_u64("sequence_number")?;
        let timestamp = Timestamp::parse(&f.req_str("timestamp")?)?;
        let session_id = f.req_uuid("session_id")?;
        Ok(JsonEnvelope {
            message_type,
            payload,
            sequence_number,
            timestamp,
            session_id,
        })
    }
}

/// Base64 as the JSON envelope writes it (standard alphabet, padded).
pub fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Base64 as the JSON envelope reads it (standard alphabet, padding optional).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"message_type":"StatusResponse","payload":"AMg=","sequence_number":2,"timestamp":"2025-12-11T01:16:26Z","session_id":"550e8400-e29b-41d4-a716-446655440000"}"#;

    #[test]
    fn decodes_and_re_encodes_byte_for_byte() {
        let env = JsonEnvelope::decode(SPEC.as_bytes()).unwrap();
        assert_eq!(env.message_type, MessageType::StatusResponse);
        assert_eq!(env.payload, [0, 200]);
        assert_eq!(env.sequence_number, 2);
        assert_eq!(env.to_bytes(), SPEC.as_bytes());
    }

    #[test]
    fn unknown_fields_are_ignored_and_bad_fields_are_400() {
        let extra = SPEC.replacen('{', r#"{"future":[1,2],"#, 1);
        assert!(JsonEnvelope::decode(extra.as_bytes()).is_ok());
        let bad = SPEC.replace("\"AMg=\"", "\"A-g_\"");
        let e = JsonEnvelope::decode(bad.as_bytes()).unwrap_err();
        assert_eq!(
            e,
            WireError::FieldType {
                kind: KIND,
                field: "payload",
                expected: "standard base64"
            }
        );
        let bad = SPEC.replace("\"StatusResponse\"", "\"Bogus\"");
        assert_eq!(
            JsonEnvelope::decode(bad.as_bytes()).unwrap_err(),
            WireError::UnknownMessageName("Bogus".into())
        );
        assert_eq!(JsonEnvelope::decode(b"[]").unwrap_err().status_code(), 400);
    }
}
