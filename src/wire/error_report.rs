//! ErrorReport: refusals, failures, and the segment retransmission request.
//!
//! A retransmission request is an ErrorReport with `error_code` 1005 and
//! `details.segment_id` (profile section 7). The reference implementation instead sends a
//! bare `SegmentRetransmissionRequest` object as the payload; [`ErrorReport::decode`] reads
//! that form too and turns it into the canonical one, so the session layer sees one shape.

use bytes::BufMut;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::json_fields::{Fields, ObjectWriter};
use super::{SegmentId, StatusCode, WireError};

const KIND: &str = "ErrorReport";
const BARE_KIND: &str = "SegmentRetransmissionRequest";

/// ErrorReport payload (JSON), with every field of the specification.
///
/// # Format
/// ```text
/// {"error_code":1005,"error_message":"...","error_type":"SegmentCorrupted",
///  "retry_after":1000,"max_retries":3,"details":{...},"context":{...}}
/// ```
/// `error_code` is required; `error_message` reads as "" when absent; the others are
/// optional and omitted when absent. A reply to a request carries `details.ack`
/// (profile section 4).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorReport {
    /// The status code (kept as its number when unknown).
    pub error_code: StatusCode,
    /// Human-readable explanation.
    pub error_message: String,
    /// The code's name or another classification.
    pub error_type: Option<String>,
    /// Milliseconds to wait before retrying.
    pub retry_after: Option<u64>,
    /// How many retries the sender allows.
    pub max_retries: Option<u32>,
    /// Details (a JSON object): `ack`, `segment_id`, `field`, ...
    pub details: Option<Map<String, Value>>,
    /// Context (a JSON object): session, file, segment index, ...
    pub context: Option<Map<String, Value>>,
}

impl ErrorReport {
    /// A report with `error_type` set to the code's name, no details.
    pub fn new(code: StatusCode, message: impl Into<String>) -> Self {
        ErrorReport {
            error_code: code,
            error_message: message.into(),
            error_type: code.name().map(str::to_owned),
            retry_after: None,
            max_retries: None,
            details: None,
            context: None,
        }
    }

    /// The same report with `details.<key>` set.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details
            .get_or_insert_with(Map::new)
            .insert(key.to_owned(), value.into());
        self
    }

    /// The same report answering the request numbered `ack` (profile section 4).
    pub fn with_ack(self, ack: u64) -> Self {
        self.with_detail("ack", ack)
    }

    /// `details.ack`, the sequence number of the request this answers.
    pub fn ack(&self) -> Option<u64> {
        self.details.as_ref()?.get("ack")?.as_u64()
    }

    /// A retransmission request for `segment_id` (code 1005, `details.segment_id`).
    pub fn retransmission(segment_id: SegmentId, reason: Option<&str>) -> Self {
        let mut r = ErrorReport::new(StatusCode::SegmentCorrupted, "retransmit segment")
            .with_detail("segment_id", segment_id.to_string());
        if let Some(reason) = reason {
            r = r.with_detail("reason", reason);
        }
        r
    }

    /// The retransmission request this report is, if it is one: code 1005 and a
    /// `details.segment_id` holding a UUID.
    pub fn retransmission_request(&self) -> Option<RetransmissionRequest> {
        if self.error_code != StatusCode::SegmentCorrupted {
            return None;
        }
        let details = self.details.as_ref()?;
        let id = Uuid::parse_str(details.get("segment_id")?.as_str()?).ok()?;
        let reason = details
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some(RetransmissionRequest {
            segment_id: SegmentId::from_uuid(id),
            reason,
        })
    }

    /// Writes the report as compact JSON.
    pub fn encode(&self, buf: &mut impl BufMut) {
        ObjectWriter::default()
            .put("error_code", self.error_code.to_u16())
            .put("error_message", self.error_message.as_str())
            .put_opt("error_type", self.error_type.as_deref())
            .put_opt("retry_after", self.retry_after)
            .put_opt("max_retries", self.max_retries)
            .put_opt("details", self.details.clone().map(Value::Object))
            .put_opt("context", self.context.clone().map(Value::Object))
            .write(buf)
    }

    /// Reads a report, or the reference's bare retransmission request (an object without
    /// `error_code` but with `segment_id`), which becomes a canonical 1005 report.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let f = Fields::parse(KIND, bytes)?;
        if f.get("error_code").is_none() && f.get("segment_id").is_some() {
            let bare = SegmentRetransmissionRequest::from_fields(Fields::from_value(
                BARE_KIND,
                Value::Object(f.map().clone()),
            )?)?;
            return Ok(bare.into_error_report());
        }
        let code = f
            .opt_u64_in("error_code", 0, u64::from(u16::MAX), "0-65535")?
            .ok_or(WireError::MissingField {
                kind: KIND,
                field: "error_code",
            })?;
        Ok(ErrorReport {
            error_code: StatusCode::from_u16(code as u16),
            error_message: f.opt_str("error_message")?.unwrap_or_default(),
            error_type: f.opt_str("error_type")?,
            retry_after: f.opt_u64("retry_after")?,
            max_retries: f
                .opt_u64_in("max_retries", 0, u64::from(u32::MAX), "0-4294967295")?
                .map(|v| v as u32),
            details: f.opt_object("details")?,
            context: f.opt_object("context")?,
        })
    }
}

/// A request to send a segment again, read from an [`ErrorReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetransmissionRequest {
    /// The segment wanted; it is sent again with this id unchanged.
    pub segment_id: SegmentId,
    /// Why (`details.reason`), if given.
    pub reason: Option<String>,
}

/// Why the reference asks for a segment again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetransmissionReason {
    /// Data corrupted.
    Corrupted,
    /// Segment lost.
    Lost,
    /// Reception timed out.
    Timeout,
    /// Received out of order.
    OutOfOrder,
}

impl RetransmissionReason {
    /// The name on the wire (`Corrupted`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RetransmissionReason::Corrupted => "Corrupted",
            RetransmissionReason::Lost => "Lost",
            RetransmissionReason::Timeout => "Timeout",
            RetransmissionReason::OutOfOrder => "OutOfOrder",
        }
    }

    /// The reason named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            RetransmissionReason::Corrupted,
            RetransmissionReason::Lost,
            RetransmissionReason::Timeout,
            RetransmissionReason::OutOfOrder,
        ]
        .into_iter()
        .find(|r| r.name() == name)
    }
}

/// The reference implementation's bare retransmission request object.
///
/// ```text
/// {"session_id":"<uuid>","segment_id":"<uuid>","reason":"Corrupted","priority":200}
/// ```
/// Only `segment_id` is required when reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRetransmissionRequest {
    /// The session.
    pub session_id: Option<Uuid>,
    /// The segment wanted.
    pub segment_id: SegmentId,
    /// Why.
    pub reason: Option<RetransmissionReason>,
    /// 1-255, higher first.
    pub priority: Option<u8>,
}

impl SegmentRetransmissionRequest {
    fn from_fields(f: Fields) -> Result<Self, WireError> {
        Ok(SegmentRetransmissionRequest {
            session_id: f.opt_uuid("session_id")?,
            segment_id: SegmentId::from_uuid(f.req_uuid("segment_id")?),
            reason: f.opt_name(
                "reason",
                RetransmissionReason::from_name,
                "Corrupted, Lost, Timeout or OutOfOrder",
            )?,
            priority: f.opt_u64_in("priority", 1, 255, "1-255")?.map(|p| p as u8),
        })
    }

    /// Reads the bare object.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::from_fields(Fields::parse(BARE_KIND, bytes)?)
    }

    /// Writes the bare object (as the reference does).
    pub fn encode(&self, buf: &mut impl BufMut) {
        ObjectWriter::default()
            .put_opt("session_id", self.session_id.map(|u| u.to_string()))
            .put("segment_id", self.segment_id.to_string())
            .put_opt("reason", self.reason.map(RetransmissionReason::name))
            .put_opt("priority", self.priority)
            .write(buf)
    }

    /// The canonical form: code 1005, `details.segment_id` (and `reason`, `priority`),
    /// `context.session_id`.
    pub fn into_error_report(self) -> ErrorReport {
        let mut r = ErrorReport::retransmission(self.segment_id, self.reason.map(|r| r.name()));
        r.error_type = Some(BARE_KIND.to_owned());
        if let Some(p) = self.priority {
            r = r.with_detail("priority", p);
        }
        if let Some(s) = self.session_id {
            let mut ctx = Map::new();
            ctx.insert("session_id".into(), Value::from(s.to_string()));
            r.context = Some(ctx);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_reference_request_becomes_a_1005_report() {
        let bare = br#"{"session_id":"550e8400-e29b-41d4-a716-446655440000","segment_id":"550e8400-e29b-41d4-a716-446655440001","reason":"Lost","priority":200}"#;
        let r = ErrorReport::decode(bare).unwrap();
        assert_eq!(r.error_code, StatusCode::SegmentCorrupted);
        let req = r.retransmission_request().unwrap();
        assert_eq!(
            req.segment_id.to_string(),
            "550e8400-e29b-41d4-a716-446655440001"
        );
        assert_eq!(req.reason.as_deref(), Some("Lost"));
    }

    #[test]
    fn ack_and_missing_code() {
        let r = ErrorReport::new(StatusCode::NotFound, "no such file").with_ack(4);
        let mut out = Vec::new();
        r.encode(&mut out);
        let back = ErrorReport::decode(&out).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.ack(), Some(4));
        assert_eq!(
            ErrorReport::decode(br#"{"error_message":"x"}"#).unwrap_err(),
            WireError::MissingField {
                kind: KIND,
                field: "error_code"
            }
        );
        let e = ErrorReport::decode(br#"{"error_code":1,"details":[1]}"#).unwrap_err();
        assert!(matches!(
            e,
            WireError::FieldType {
                field: "details",
                ..
            }
        ));
    }
}
