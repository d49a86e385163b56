//! StatusResponse: a u16 status code and an optional UTF-8 message.
//!
//! The specification's example `yAA=` is `C8 00`, which read big-endian is 51200, not 200
//! (profile section 1). We read and write big-endian, and keep a code we do not know as
//! [`StatusCode::Unknown`] with its number, never mapping it to a neighbour.

use bytes::{Buf, BufMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

use super::WireError;

const KIND: &str = "StatusResponse";

/// Every status code of the specification (200-503, 1001-1010), plus unknown numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusCode {
    /// 200 Success.
    Success,
    /// 400 BadRequest: malformed message or field out of range.
    BadRequest,
    /// 401 Unauthorized.
    Unauthorized,
    /// 404 NotFound: no such file (also paths outside the served root, profile section 5).
    NotFound,
    /// 500 InternalError.
    InternalError,
    /// 503 ServiceUnavailable.
    ServiceUnavailable,
    /// 1001 UnsupportedFormat.
    UnsupportedFormat,
    /// 1002 InsufficientBandwidth.
    InsufficientBandwidth,
    /// 1003 StorageFull.
    StorageFull,
    /// 1004 AuthenticationFailed.
    AuthenticationFailed,
    /// 1005 SegmentCorrupted (also the retransmission request's code).
    SegmentCorrupted,
    /// 1006 StreamTooLong.
    StreamTooLong,
    /// 1007 ConnectionTimeout.
    ConnectionTimeout,
    /// 1008 ProtocolVersionMismatch.
    ProtocolVersionMismatch,
    /// 1009 RateLimitExceeded.
    RateLimitExceeded,
    /// 1010 BufferOverflow.
    BufferOverflow,
    /// A code outside the specification's set, kept as its number.
    Unknown(u16),
}

impl StatusCode {
    /// The 16 codes of the specification, ascending.
    pub const ALL: [StatusCode; 16] = [
        StatusCode::Success,
        StatusCode::BadRequest,
        StatusCode::Unauthorized,
        StatusCode::NotFound,
        StatusCode::InternalError,
        StatusCode::ServiceUnavailable,
        StatusCode::UnsupportedFormat,
        StatusCode::InsufficientBandwidth,
        StatusCode::StorageFull,
        StatusCode::AuthenticationFailed,
        StatusCode::SegmentCorrupted,
        StatusCode::StreamTooLong,
        StatusCode::ConnectionTimeout,
        StatusCode::ProtocolVersionMismatch,
        StatusCode::RateLimitExceeded,
        StatusCode::BufferOverflow,
    ];

    /// The code a number stands for; numbers outside the set become `Unknown(n)`.
    pub fn from_u16(code: u16) -> StatusCode {
        Self::ALL
            .into_iter()
            .find(|c| c.to_u16() == code)
            .unwrap_or(StatusCode::Unknown(code))
    }

    /// The number on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            StatusCode::Success => 200,
            StatusCode::BadRequest => 400,
            StatusCode::Unauthorized => 401,
            StatusCode::NotFound => 404,
            StatusCode::InternalError => 500,
            StatusCode::ServiceUnavailable => 503,
            StatusCode::UnsupportedFormat => 1001,
            StatusCode::InsufficientBandwidth => 1002,
            StatusCode::StorageFull => 1003,
            StatusCode::AuthenticationFailed => 1004,
            StatusCode::SegmentCorrupted => 1005,
            StatusCode::StreamTooLong => 1006,
            StatusCode::ConnectionTimeout => 1007,
            StatusCode::ProtocolVersionMismatch => 1008,
            StatusCode::RateLimitExceeded => 1009,
            StatusCode::BufferOverflow => 1010,
            StatusCode::Unknown(n) => n,
        }
    }

    /// The specification's name (`Success`, `SegmentCorrupted`...), or None when unknown.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            StatusCode::Success => "Success",
            StatusCode::BadRequest => "BadRequest",
            StatusCode::Unauthorized => "Unauthorized",
            StatusCode::NotFound => "NotFound",
            StatusCode::InternalError => "InternalError",
            StatusCode::ServiceUnavailable => "ServiceUnavailable",
            StatusCode::UnsupportedFormat => "UnsupportedFormat",
            StatusCode::InsufficientBandwidth => "InsufficientBandwidth",
            StatusCode::StorageFull => "StorageFull",
            StatusCode::AuthenticationFailed => "AuthenticationFailed",
            StatusCode::SegmentCorrupted => "SegmentCorrupted",
            StatusCode::StreamTooLong => "StreamTooLong",
            StatusCode::ConnectionTimeout => "ConnectionTimeout",
            StatusCode::ProtocolVersionMismatch => "ProtocolVersionMismatch",
            StatusCode::RateLimitExceeded => "RateLimitExceeded",
            StatusCode::BufferOverflow => "BufferOverflow",
            StatusCode::Unknown(_) => return None,
        })
    }

    /// True for a code of the specification's set.
    pub fn is_known(self) -> bool {
        !matches!(self, StatusCode::Unknown(_))
    }
}

impl fmt::Display for StatusCode {
    /// `200 Success`, or `51200 Unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_u16(), self.name().unwrap_or("Unknown"))
    }
}

impl Serialize for StatusCode {
    /// A JSON number (as in ErrorReport's `error_code`).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.to_u16())
    }
}

impl<'de> serde::Deserialize<'de> for StatusCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u16::deserialize(d).map(StatusCode::from_u16)
    }
}

/// StatusResponse payload.
///
/// # Format
/// ```text
/// 0      2
/// +------+---------------------------+
/// | code | message (UTF-8, optional) |
/// +------+---------------------------+
///  u16 BE
/// ```
/// The message is free text or, for replies to requests, JSON carrying `"ack"`
/// (profile sections 4-7): see [`StatusResponse::json`] and the typed acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    /// The status code.
    pub code: StatusCode,
    /// The message after the code (may be empty).
    pub message: String,
}

impl StatusResponse {
    /// A response with a plain-text message.
    pub fn new(code: StatusCode, message: impl Into<String>) -> Self {
        StatusResponse {
            code,
            message: message.into(),
        }
    }

    /// A response whose message is `value` serialized as compact JSON.
    pub fn with_json(code: StatusCode, value: &impl Serialize) -> Self {
        // Serializing our own typed values to a String cannot fail (no non-string map keys).
        let message = serde_json::to_string(value).unwrap_or_default();
        StatusResponse { code, message }
    }

    /// The message parsed as JSON into `T`; None when the message is not such JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(&self.message).ok()
    }

    /// The `ack` field of a JSON message (profile section 4), if there is one.
    pub fn ack(&self) -> Option<u64> {
        let v: serde_json::Value = self.json()?;
        v.get("ack")?.as_u64()
    }

    /// Writes the code (big-endian) and the message bytes.
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_u16(self.code.to_u16());
        buf.put_slice(self.message.as_bytes());
    }

    /// Reads the code and takes every remaining byte as the UTF-8 message.
    pub fn decode(buf: &mut impl Buf) -> Result<Self, WireError> {
        if buf.remaining() < 2 {
            return Err(WireError::Truncated {
                kind: KIND,
                needed: 2,
                available: buf.remaining(),
            });
        }
        let code = StatusCode::from_u16(buf.get_u16());
        let rest = buf.copy_to_bytes(buf.remaining());
        let message =
            String::from_utf8(rest.to_vec()).map_err(|_| WireError::InvalidUtf8 { kind: KIND })?;
        Ok(StatusResponse { code, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips_and_others_stay_unknown() {
        for c in StatusCode::ALL {
            assert_eq!(StatusCode::from_u16(c.to_u16()), c);
        }
        assert_eq!(StatusCode::from_u16(51200), StatusCode::Unknown(51200));
        assert_eq!(StatusCode::from_u16(201), StatusCode::Unknown(201));
        assert_eq!(StatusCode::from_u16(1011), StatusCode::Unknown(1011));
    }

    #[test]
    fn spec_example_c8_00_is_51200_and_200_is_sent_as_00_c8() {
        let r = StatusResponse::decode(&mut &[0xC8u8, 0x00][..]).unwrap();
        assert_eq!(r.code, StatusCode::Unknown(51200));
        let mut out = Vec::new();
        StatusResponse::new(StatusCode::Success, "").encode(&mut out);
        assert_eq!(out, [0x00, 0xC8]);
    }

    #[test]
    fn short_and_non_utf8_payloads_are_400() {
        let e = StatusResponse::decode(&mut &[0xC8u8][..]).unwrap_err();
        assert!(matches!(e, WireError::Truncated { .. }));
        let e = StatusResponse::decode(&mut &[0, 200, 0xFF][..]).unwrap_err();
        assert_eq!(e, WireError::InvalidUtf8 { kind: KIND });
        assert_eq!(e.status_code(), 400);
    }

    #[test]
    fn ack_is_read_from_a_json_message() {
        let r = StatusResponse::new(StatusCode::Success, r#"{"ack":7,"session_id":"x"}"#);
        assert_eq!(r.ack(), Some(7));
        assert_eq!(StatusResponse::new(StatusCode::Success, "OK").ack(), None);
    }
}
