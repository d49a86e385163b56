//! What a unidirectional stream carries, decided by its first byte (profile section 2).
//!
//! `{` opens a JSON envelope, 0x01 a video segment, 0x02 an audio segment. Anything else is
//! answered with ErrorReport 400 and that stream alone is stopped; the connection lives on.
//! The binary envelope never travels on unidirectional streams (its type byte would collide
//! with the segment bytes).

use super::{AudioHeader, JsonEnvelope, Segment, VideoHeader, WireError};

/// What a unidirectional stream carries, from its first byte (profile section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `{` (0x7B): a JSON envelope.
    JsonEnvelope,
    /// 0x01: a video segment.
    VideoSegment,
    /// 0x02: an audio segment.
    AudioSegment,
}

/// The kind of stream whose first byte is `first_byte`; anything else is 400
/// ([`WireError::UnknownStreamType`]): the receiver stops that stream alone.
pub fn classify_stream(first_byte: u8) -> Result<StreamKind, WireError> {
    match first_byte {
        b'{' => Ok(StreamKind::JsonEnvelope),
        VideoHeader::TYPE => Ok(StreamKind::VideoSegment),
        AudioHeader::TYPE => Ok(StreamKind::AudioSegment),
        other => Err(WireError::UnknownStreamType(other)),
    }
}

/// A whole unidirectional stream, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum UniStream {
    /// A control message in the JSON envelope.
    Envelope(JsonEnvelope),
    /// A video or audio segment.
    Segment(Segment),
}

impl UniStream {
    /// Decodes a finished stream's bytes after dispatching on the first byte.
    ///
    /// An empty stream is 400 (`Truncated`); an unknown first byte is 400
    /// (`UnknownStreamType`); envelope errors are 400, segment framing errors 1005.
    pub fn decode(bytes: &[u8]) -> Result<UniStream, WireError> {
        let Some(&first) = bytes.first() else {
            return Err(WireError::Truncated {
                kind: "UniStream",
                needed: 1,
                available: 0,
            });
        };
        match classify_stream(first)? {
            StreamKind::JsonEnvelope => JsonEnvelope::decode(bytes).map(UniStream::Envelope),
            StreamKind::VideoSegment | StreamKind::AudioSegment => {
                Segment::decode(bytes).map(UniStream::Segment)
            }
        }
    }

    /// The stream's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            UniStream::Envelope(e) => e.to_bytes(),
            UniStream::Segment(s) => s.to_bytes(),
        }
    }
}
