//! The one error type of the wire layer.
//!
//! Every decoder in [`crate::wire`] fails with a [`WireError`]; each variant names the
//! message kind (and field, where there is one) and maps to the protocol status code a peer
//! answers with, so the session layer can turn any decoding failure into a reply without
//! inspecting it further.

/// Why bytes could not be decoded (or a value could not be accepted) by the wire layer.
///
/// `kind` is the message or structure being decoded (`"StatusResponse"`,
/// `"JsonEnvelope"`, `"VideoSegment"`, ...); `field` is the specification's field name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended before the structure was complete.
    #[error("{kind}: truncated (needed {needed} bytes, had {available})")]
    Truncated {
        /// What was being decoded.
        kind: &'static str,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// Bytes were left after a structure that must be consumed exactly.
    #[error("{kind}: {extra} trailing bytes")]
    Trailing {
        /// What was being decoded.
        kind: &'static str,
        /// How many bytes were left over.
        extra: usize,
    },
    /// A segment stream whose header, metadata or data length does not add up (1005).
    #[error("{kind}: corrupted segment: {reason}")]
    CorruptedSegment {
        /// `VideoSegment` or `AudioSegment`.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A unidirectional stream whose first byte is not `{`, 0x01 or 0x02 (profile section 2).
    #[error("unknown stream type byte {0:#04x}")]
    UnknownStreamType(u8),
    /// The bytes are not the JSON they must be (syntax, or not an object).
    #[error("{kind}: invalid JSON: {reason}")]
    Json {
        /// What was being decoded.
        kind: &'static str,
        /// The parser's explanation.
        reason: String,
    },
    /// A required field is absent (or `null`).
    #[error("{kind}: missing field `{field}`")]
    MissingField {
        /// What was being decoded.
        kind: &'static str,
        /// The field's name.
        field: &'static str,
    },
    /// A field holds a value of the wrong JSON type or an unparseable string.
    #[error("{kind}: field `{field}`: expected {expected}")]
    FieldType {
        /// What was being decoded.
        kind: &'static str,
        /// The field's name.
        field: &'static str,
        /// What the field must hold.
        expected: &'static str,
    },
    /// A field's value is outside its allowed range or set (profile section 5: 400).
    #[error("{kind}: field `{field}` out of range: {value} ({allowed})")]
    FieldOutOfRange {
        /// What was being decoded.
        kind: &'static str,
        /// The field's name.
        field: &'static str,
        /// The offending value, rendered.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// A `message_type` name that is not one of the 14 (JSON envelope).
    #[error("unknown message type name {0:?}")]
    UnknownMessageName(String),
    /// Text that must be UTF-8 is not.
    #[error("{kind}: text is not UTF-8")]
    InvalidUtf8 {
        /// What was being decoded.
        kind: &'static str,
    },
    /// The peer speaks another major version (1008 ProtocolVersionMismatch).
    #[error("protocol version {theirs} is not compatible with {ours}")]
    VersionMismatch {
        /// Our version, `major.minor.patch`.
        ours: String,
        /// The peer's version.
        theirs: String,
    },
    /// A stream carried more than the receiver's bound (1006 StreamTooLong, profile section 2).
    #[error("stream longer than the {limit}-byte bound")]
    StreamTooLong {
        /// The bound in bytes.
        limit: usize,
    },
    /// A value too large for its length field (constructors refuse it, so `encode` cannot fail).
    #[error("{kind}: {len} bytes exceed the length field's maximum {max}")]
    TooLong {
        /// What was being built.
        kind: &'static str,
        /// Its length.
        len: usize,
        /// The largest length the field can carry.
        max: usize,
    },
}

impl WireError {
    /// The protocol status code a peer answers this error with.
    ///
    /// 400 for malformed messages, 1005 for corrupted segments, 1006 for a stream past the
    /// bound, 1008 for an incompatible version.
    pub fn status_code(&self) -> u16 {
        match self {
            WireError::CorruptedSegment { .. } => 1005,
            WireError::Truncated { kind, .. } | WireError::Trailing { kind, .. }
                if is_segment_kind(kind) =>
            {
                1005
            }
            WireError::StreamTooLong { .. } => 1006,
            WireError::VersionMismatch { .. } => 1008,
            _ => 400,
        }
    }

    /// The status code as the typed [`StatusCode`](crate::wire::StatusCode).
    pub fn status(&self) -> crate::wire::StatusCode {
        crate::wire::StatusCode::from_u16(self.status_code())
    }
}

/// Kinds naming segment structures: their framing errors are 1005 SegmentCorrupted.
pub(crate) const VIDEO_SEGMENT: &str = "VideoSegment";
pub(crate) const AUDIO_SEGMENT: &str = "AudioSegment";

fn is_segment_kind(kind: &str) -> bool {
    kind == VIDEO_SEGMENT || kind == AUDIO_SEGMENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_follow_the_error_class() {
        let truncated_msg = WireError::Truncated {
            kind: "StatusResponse",
            needed: 2,
            available: 1,
        };
        assert_eq!(truncated_msg.status_code(), 400);
        let truncated_seg = WireError::Truncated {
            kind: VIDEO_SEGMENT,
            needed: 42,
            available: 1,
        };
        assert_eq!(truncated_seg.status_code(), 1005);
        assert_eq!(WireError::StreamTooLong { limit: 1 }.status_code(), 1006);
        let vm = WireError::VersionMismatch {
            ours: "1.0.0".into(),
            theirs: "2.0.0".into(),
        };
        assert_eq!(vm.status_code(), 1008);
        assert_eq!(WireError::UnknownStreamType(7).status_code(), 400);
    }
}
