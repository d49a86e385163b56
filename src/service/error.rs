//! The admin API's errors: one JSON shape, `{"error": "...", "status_code": N}` where N is
//! the HTTP status, plus `protocol_code` when the failure carries a protocol status code
//! (the client's refusal, a field the session machine refused). docs/protocol.md D80.

use crate::platform::PlatformError;
use crate::session::SessionError;
use crate::wire::StatusCode as ProtocolCode;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An HTTP error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, readable.
    pub message: String,
    /// The protocol status code behind it, if any (404, 1001, 400...).
    pub protocol_code: Option<u16>,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            protocol_code: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer TOKEN)",
        )
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        let protocol_code = e.status_code().map(ProtocolCode::to_u16);
        let status = match &e {
            PlatformError::NoSuchSession(_) => StatusCode::NOT_FOUND,
            PlatformError::Refused { code, .. } => refusal_status(*code),
            PlatformError::Session(SessionError::Invalid(_)) => StatusCode::BAD_REQUEST,
            PlatformError::Session(SessionError::NotReady) => StatusCode::SERVICE_UNAVAILABLE,
            PlatformError::Session(SessionError::NoSuchTransfer) => StatusCode::NOT_FOUND,
            PlatformError::Session(SessionError::Closed) => StatusCode::CONFLICT,
            PlatformError::Timeout | PlatformError::ConnectionLost => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            PlatformError::TransferFailed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            PlatformError::UnexpectedReply(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
            protocol_code,
        }
    }
}

/// The HTTP status of a client's refusal: its own code where HTTP has one (404, 400),
/// 415 for an unsupported format, 409 for every other refusal (the request is valid but
/// the client's state does not allow it).
fn refusal_status(code: ProtocolCode) -> StatusCode {
    match code {
        ProtocolCode::NotFound => StatusCode::NOT_FOUND,
        ProtocolCode::BadRequest => StatusCode::BAD_REQUEST,
        ProtocolCode::UnsupportedFormat => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ProtocolCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::CONFLICT,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "error": self.message,
            "status_code": self.status.as_u16(),
        });
        if let Some(code) = self.protocol_code {
            body["protocol_code"] = json!(code);
        }
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_their_http_status() {
        let refused = |code| PlatformError::Refused {
            code,
            message: "no".into(),
            retry_after: None,
        };
        let e = ApiError::from(refused(ProtocolCode::UnsupportedFormat));
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(e.protocol_code, Some(1001));
        let e = ApiError::from(refused(ProtocolCode::NotFound));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e = ApiError::from(PlatformError::NoSuchSession(uuid::Uuid::nil()));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.protocol_code, None);
        let e = ApiError::from(PlatformError::Timeout);
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
