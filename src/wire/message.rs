//! The typed message: a [`MessageType`] with its decoded payload.
//!
//! Both envelopes carry `(type, payload bytes)`; [`Message::decode`] turns that pair into a
//! typed value and [`Message::encode`] writes the payload back. Payloads are consumed
//! exactly: JSON payloads must be one JSON value; SessionEnd's must be empty.

use bytes::BufMut;

use super::{
    ErrorReport, FileListQuery, FileListResponse, FileRequest, MessageType, PauseRequest,
    PlaybackControl, ProtocolVersion, RateChange, ResumeRequest, SeekRequest, SessionStart,
    StatsRequest, StatusResponse, WireError,
};

/// A decoded control message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// 0x01 SessionStart (`CLIENT_READY`).
    SessionStart(SessionStart),
    /// 0x02 SessionEnd (empty payload).
    SessionEnd,
    /// 0x03 SeekRequest.
    SeekRequest(SeekRequest),
    /// 0x04 RateChange.
    RateChange(RateChange),
    /// 0x05 PauseRequest.
    PauseRequest(PauseRequest),
    /// 0x06 ResumeRequest.
    ResumeRequest(ResumeRequest),
    /// 0x07 ErrorReport (also retransmission requests).
    ErrorReport(ErrorReport),
    /// 0x08 StatsRequest.
    StatsRequest(StatsRequest),
    /// 0x09 StatusResponse.
    StatusResponse(StatusResponse),
    /// 0x0A VersionNegotiation.
    VersionNegotiation(ProtocolVersion),
    /// 0x0B FileRequest.
    FileRequest(FileRequest),
    /// 0x0C PlaybackControl.
    PlaybackControl(PlaybackControl),
    /// 0x0D FileListQuery.
    FileListQuery(FileListQuery),
    /// 0x0E FileListResponse.
    FileListResponse(FileListResponse),
    /// A type byte outside the specification, payload kept uninterpreted.
    Unknown {
        /// The type byte.
        message_type: u8,
        /// The payload as received.
        payload: Vec<u8>,
    },
}

fn serde_json_payload<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    payload: &[u8],
) -> Result<T, WireError> {
    let bytes: &[u8] = if payload.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        payload
    };
    serde_json::from_slice(bytes).map_err(|e| WireError::Json {
        kind,
        reason: e.to_string(),
    })
}

impl Message {
    /// The type announced in the envelope for this message.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::SessionStart(_) => MessageType::SessionStart,
            Message::SessionEnd => MessageType::SessionEnd,
            Message::SeekRequest(_) => MessageType::SeekRequest,
            Message::RateChange(_) => MessageType::RateChange,
            Message::PauseRequest(_) => MessageType::PauseRequest,
            Message::ResumeRequest(_) => MessageType::ResumeRequest,
            Message::ErrorReport(_) => MessageType::ErrorReport,
            Message::StatsRequest(_) => MessageType::StatsRequest,
            Message::StatusResponse(_) => MessageType::StatusResponse,
            Message::VersionNegotiation(_) => MessageType::VersionNegotiation,
            Message::FileRequest(_) => MessageType::FileRequest,
            Message::PlaybackControl(_) => MessageType::PlaybackControl,
            Message::FileListQuery(_) => MessageType::FileListQuery,
            Message::FileListResponse(_) => MessageType::FileListResponse,
            Message::Unknown { message_type, .. } => MessageType::from_u8(*message_type),
        }
    }

    /// Decodes `payload` as a message of type `message_type`.
    ///
    /// Never panics; every failure is a [`WireError`] (400 unless it says otherwise).
    pub fn decode(message_type: MessageType, payload: &[u8]) -> Result<Message, WireError> {
        Ok(match message_type {
            MessageType::SessionStart => Message::SessionStart(SessionStart::decode(payload)?),
            MessageType::SessionEnd => {
                if !payload.is_empty() {
                    return Err(WireError::Trailing {
                        kind: "SessionEnd",
                        extra: payload.len(),
                    });
                }
                Message::SessionEnd
            }
            MessageType::SeekRequest => Message::SeekRequest(SeekRequest::decode(payload)?),
            MessageType::RateChange => Message::RateChange(RateChange::decode(payload)?),
            MessageType::PauseRequest => Message::PauseRequest(PauseRequest::decode(payload)?),
            MessageType::ResumeRequest => Message::ResumeRequest(ResumeRequest::decode(payload)?),
            MessageType::ErrorReport => Message::ErrorReport(ErrorReport::decode(payload)?),
            MessageType::StatsRequest => Message::StatsRequest(StatsRequest::decode(payload)?),
            MessageType::StatusResponse => {
                Message::StatusResponse(StatusResponse::decode(&mut &payload[..])?)
            }
            MessageType::VersionNegotiation => {
                Message::VersionNegotiation(ProtocolVersion::decode(&mut &payload[..])?)
            }
            MessageType::FileRequest => Message::FileRequest(FileRequest::decode(payload)?),
            MessageType::PlaybackControl => {
                Message::PlaybackControl(PlaybackControl::decode(payload)?)
            }
            MessageType::FileListQuery => {
                Message::FileListQuery(serde_json_payload("FileListQuery", payload)?)
            }
            MessageType::FileListResponse => {
                let kind = "FileListResponse";
                if payload.iter().all(u8::is_ascii_whitespace) {
                    return Err(WireError::MissingField {
                        kind,
                        field: "files",
                    });
                }
                Message::FileListResponse(serde_json_payload(kind, payload)?)
            }
            MessageType::Unknown(b) => Message::Unknown {
                message_type: b,
                payload: payload.to_vec(),
            },
        })
    }

    /// Writes the payload.
    pub fn encode(&self, buf: &mut impl BufMut) {
        match self {
            Message::SessionStart(m) => m.encode(buf),
            Message::SessionEnd => {}
            Message::SeekRequest(m) => m.encode(buf),
            Message::RateChange(m) => m.encode(buf),
            Message::PauseRequest(m) => m.encode(buf),
            Message::ResumeRequest(m) => m.encode(buf),
            Message::ErrorReport(m) => m.encode(buf),
            Message::StatsRequest(m) => m.encode(buf),
            Message::StatusResponse(m) => m.encode(buf),
            Message::VersionNegotiation(m) => m.encode(buf),
            Message::FileRequest(m) => m.encode(buf),
            Message::PlaybackControl(m) => m.encode(buf),
            // Derived serialization of plain structs with string keys cannot fail.
            Message::FileListQuery(m) => buf.put_slice(&serde_json::to_vec(m).unwrap_or_default()),
            Message::FileListResponse(m) => {
                buf.put_slice(&serde_json::to_vec(m).unwrap_or_default())
            }
            Message::Unknown { payload, .. } => buf.put_slice(payload),
        }
    }

    /// The payload as bytes.
    pub fn to_payload(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}
