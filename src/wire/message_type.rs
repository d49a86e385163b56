//! The one-byte message type shared by both envelopes.
//!
//! The binary envelope carries it as a byte, the JSON envelope as the variant's name.
//! A byte outside the 14 known values stays representable as [`MessageType::Unknown`] so a
//! binary envelope of a newer peer still decodes (its payload is kept, uninterpreted); a JSON
//! envelope with an unknown *name* is refused with 400 (there is no number to keep).

use std::fmt;

/// The specification's `MessageType` enum (0x01 to 0x0E), plus unknown bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    /// 0x01: the client is ready (`CLIENT_READY`).
    SessionStart,
    /// 0x02: the client ends the session (empty payload).
    SessionEnd,
    /// 0x03: standalone seek.
    SeekRequest,
    /// 0x04: standalone rate change.
    RateChange,
    /// 0x05: standalone pause.
    PauseRequest,
    /// 0x06: standalone resume.
    ResumeRequest,
    /// 0x07: error report (also the retransmission request, profile section 7).
    ErrorReport,
    /// 0x08: statistics request.
    StatsRequest,
    /// 0x09: status response (u16 code + text).
    StatusResponse,
    /// 0x0A: protocol version (3 bytes).
    VersionNegotiation,
    /// 0x0B: request to upload a file.
    FileRequest,
    /// 0x0C: playback command.
    PlaybackControl,
    /// 0x0D: file list query.
    FileListQuery,
    /// 0x0E: file list response.
    FileListResponse,
    /// Any other byte: a message of a newer peer, kept as its number.
    Unknown(u8),
}

impl MessageType {
    /// The 14 known types in numeric order.
    pub const ALL: [MessageType; 14] = [
        MessageType::SessionStart,
        MessageType::SessionEnd,
        MessageType::SeekRequest,
        MessageType::RateChange,
        MessageType::PauseRequest,
        MessageType::ResumeRequest,
        MessageType::ErrorReport,
        MessageType::StatsRequest,
        MessageType::StatusResponse,
        MessageType::VersionNegotiation,
        MessageType::FileRequest,
        MessageType::PlaybackControl,
        MessageType::FileListQuery,
        MessageType::FileListResponse,
    ];

    /// The type a byte stands for; never fails.
    pub fn from_u8(byte: u8) -> MessageType {
        match byte {
            0x01..=0x0E => Self::ALL[usize::from(byte - 1)],
            other => MessageType::Unknown(other),
        }
    }

    /// The byte on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            MessageType::SessionStart => 0x01,
            MessageType::SessionEnd => 0x02,
            MessageType::SeekRequest => 0x03,
            MessageType::RateChange => 0x04,
            MessageType::PauseRequest => 0x05,
            MessageType::ResumeRequest => 0x06,
            MessageType::ErrorReport => 0x07,
            MessageType::StatsRequest => 0x08,
            MessageType::StatusResponse => 0x09,
            MessageType::VersionNegotiation => 0x0A,
            MessageType::FileRequest => 0x0B,
            MessageType::PlaybackControl => 0x0C,
            MessageType::FileListQuery => 0x0D,
            MessageType::FileListResponse => 0x0E,
            MessageType::Unknown(b) => b,
        }
    }

    /// The name used in the JSON envelope's `message_type`, or None for unknown bytes.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            MessageType::SessionStart => "SessionStart",
            MessageType::SessionEnd => "SessionEnd",
            MessageType::SeekRequest => "SeekRequest",
            MessageType::RateChange => "RateChange",
            MessageType::PauseRequest => "PauseRequest",
            MessageType::ResumeRequest => "ResumeRequest",
            MessageType::ErrorReport => "ErrorReport",
            MessageType::StatsRequest => "StatsRequest",
            MessageType::StatusResponse => "StatusResponse",
            MessageType::VersionNegotiation => "VersionNegotiation",
            MessageType::FileRequest => "FileRequest",
            MessageType::PlaybackControl => "PlaybackControl",
            MessageType::FileListQuery => "FileListQuery",
            MessageType::FileListResponse => "FileListResponse",
            MessageType::Unknown(_) => return None,
        })
    }

    /// The type named `name` (exact, case-sensitive, as the specification spells it).
    pub fn from_name(name: &str) -> Option<MessageType> {
        Self::ALL.into_iter().find(|t| t.name() == Some(name))
    }

    /// True for the 14 types of the specification.
    pub fn is_known(self) -> bool {
        !matches!(self, MessageType::Unknown(_))
    }
}

impl fmt::Display for MessageType {
    /// The name, or `Unknown(0xNN)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Unknown({:#04x})", self.to_u8()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        for b in 0..=u8::MAX {
            assert_eq!(MessageType::from_u8(b).to_u8(), b);
        }
        assert_eq!(MessageType::from_u8(0x0B), MessageType::FileRequest);
        assert_eq!(MessageType::from_u8(0x0F), MessageType::Unknown(0x0F));
        assert_eq!(MessageType::from_u8(0), MessageType::Unknown(0));
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_name(t.name().unwrap()), Some(t));
        }
        assert_eq!(MessageType::from_name("sessionstart"), None);
        assert_eq!(MessageType::Unknown(0x20).name(), None);
    }
}
