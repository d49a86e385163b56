//! SessionStart (0x01): the client is ready, and, as an extension, who it is.
//!
//! # Format
//! The specification's payload is the UTF-8 text `CLIENT_READY`, and that stays what a
//! client sends when the platform asks for no token. A client that authenticates with a
//! token sends a JSON object instead (docs/protocol.md D90):
//! ```text
//! {"status":"CLIENT_READY","device_id":"cam-07","token":"vst1_..."}
//! ```
//! - `status`: `CLIENT_READY` (required in the object form).
//! - `device_id`: 1-128 bytes of `A-Z a-z 0-9 . _ - : @` (required when `token` is given;
//!   alone it names the device without proving it, e.g. beside a client certificate).
//! - `token`: the device's secret, 1-256 bytes of printable ASCII (optional).
//!
//! Unknown fields are ignored (profile section 2). Any other UTF-8 text is read as text (the
//! session layer refuses what is not `CLIENT_READY`); a payload that starts with `{` must be
//! that object, or it is 400. The token never appears in `Debug` or in error messages.

use bytes::BufMut;
use std::fmt;

use super::json_fields::{Fields, ObjectWriter};
use super::WireError;

const KIND: &str = "SessionStart";

/// The longest device id accepted, in bytes.
pub const MAX_DEVICE_ID_LEN: usize = 128;

/// The longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 256;

/// True when `id` can name a device: 1-[`MAX_DEVICE_ID_LEN`] bytes of ASCII letters,
/// digits and `. _ - : @` (safe in file names' neighbourhood, logs and token files).
pub fn is_valid_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_DEVICE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@'))
}

/// True when `token` may be carried: 1-[`MAX_TOKEN_LEN`] bytes of printable ASCII.
fn is_valid_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

/// SessionStart payload: `CLIENT_READY`, optionally with the device's id and token.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionStart {
    /// The text (the object form's `status`): `CLIENT_READY` from our clients.
    pub text: String,
    /// The device id the client claims (object form only).
    pub device_id: Option<String>,
    /// The device's secret token (object form only; never printed).
    pub token: Option<String>,
}

impl fmt::Debug for SessionStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("SessionStart");
        s.field("text", &self.text);
        if let Some(id) = &self.device_id {
            s.field("device_id", id);
        }
        if let Some(token) = &self.token {
            s.field("token", &format_args!("<{} bytes>", token.len()));
        }
        s.finish()
    }
}

impl SessionStart {
    /// The text a ready client sends.
    pub const CLIENT_READY: &'static str = "CLIENT_READY";

    /// `CLIENT_READY`.
    pub fn client_ready() -> Self {
        SessionStart {
            text: Self::CLIENT_READY.to_owned(),
            device_id: None,
            token: None,
        }
    }

    /// `CLIENT_READY` naming `device_id`, with its `token` if given (the object form).
    /// None when either would not pass [`SessionStart::decode`] (bad characters, too long).
    pub fn with_device(device_id: &str, token: Option<&str>) -> Option<Self> {
        if !is_valid_device_id(device_id) || !token.is_none_or(is_valid_token) {
            return None;
        }
        Some(SessionStart {
            text: Self::CLIENT_READY.to_owned(),
            device_id: Some(device_id.to_owned()),
            token: token.map(str::to_owned),
        })
    }

    /// True when the client says `CLIENT_READY` (in either form).
    pub fn is_client_ready(&self) -> bool {
        self.text == Self::CLIENT_READY
    }

    /// Writes the text, or the object when a device id or token is carried.
    pub fn encode(&self, buf: &mut impl BufMut) {
        if self.device_id.is_none() && self.token.is_none() {
            buf.put_slice(self.text.as_bytes());
            return;
        }
        ObjectWriter::default()
            .put("status", self.text.as_str())
            .put_opt("device_id", self.device_id.as_deref())
            .put_opt("token", self.token.as_deref())
            .write(buf)
    }

    /// Reads the text, or the object form when the payload starts with `{`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let text = std::str::from_utf8(bytes).map_err(|_| WireError::InvalidUtf8 { kind: KIND })?;
        if !text.starts_with('{') {
            return Ok(SessionStart {
                text: text.to_owned(),
                device_id: None,
                token: None,
            });
        }
        let f = Fields::parse(KIND, bytes)?;
        let status = f.req_str("status")?;
        let device_id = f.opt_str("device_id")?;
        if let Some(id) = &device_id {
            if !is_valid_device_id(id) {
                return Err(f.range_error(
                    "device_id",
                    format!("{:?}", truncate(id, 40)),
                    "1-128 bytes of A-Z a-z 0-9 . _ - : @",
                ));
            }
        }
        let token = f.opt_str("token")?;
        if let Some(token) = &token {
            if !is_valid_token(token) {
                // The value is a secret: its length only.
                return Err(f.range_error(
                    "token",
                    format!("<{} bytes>", token.len()),
                    "1-256 bytes of printable ASCII",
                ));
            }
            if device_id.is_none() {
                return Err(WireError::MissingField {
                    kind: KIND,
                    field: "device_id",
                });
            }
        }
        Ok(SessionStart {
            text: status,
            device_id,
            token,
        })
    }
}

/// At most `n` characters of `s`, for error messages.
fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &SessionStart) -> SessionStart {
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        SessionStart::decode(&bytes).unwrap()
    }

    #[test]
    fn plain_client_ready_stays_plain_text() {
        let mut bytes = Vec::new();
        SessionStart::client_ready().encode(&mut bytes);
        assert_eq!(bytes, b"CLIENT_READY");
        assert!(SessionStart::decode(b"CLIENT_READY")
            .unwrap()
            .is_client_ready());
        assert!(!SessionStart::decode(b"HELLO").unwrap().is_client_ready());
    }

    #[test]
    fn object_form_carries_device_and_token() {
        let s = SessionStart::with_device("cam-07", Some("vst1_secret")).unwrap();
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"status":"CLIENT_READY","device_id":"cam-07","token":"vst1_secret"}"#
        );
        assert_eq!(round_trip(&s), s);
        assert!(s.is_client_ready());
        let id_only = SessionStart::with_device("cam-07", None).unwrap();
        assert_eq!(round_trip(&id_only), id_only);
    }

    #[test]
    fn the_token_is_never_printed() {
        let s = SessionStart::with_device("cam-07", Some("vst1_secret")).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("<11 bytes>"), "{debug}");
        let err = SessionStart::decode(
            br#"{"status":"CLIENT_READY","device_id":"a","token":"secret with space"}"#,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert_eq!(err.status_code(), 400);
    }

    #[test]
    fn bad_objects_are_400() {
        for bad in [
            &br#"{"device_id":"cam"}"#[..],
            br#"{"status":"CLIENT_READY","device_id":""}"#,
            br#"{"status":"CLIENT_READY","device_id":"a/b"}"#,
            br#"{"status":"CLIENT_READY","token":"t"}"#,
            br#"{"status":"CLIENT_READY","device_id":"a","token":""}"#,
            br#"{"status":"CLIENT_READY","device_id":7}"#,
            b"{not json",
        ] {
            let err = SessionStart::decode(bad).unwrap_err();
            assert_eq!(err.status_code(), 400, "{}", String::from_utf8_lossy(bad));
        }
        let long = "x".repeat(MAX_DEVICE_ID_LEN + 1);
        assert!(SessionStart::with_device(&long, None).is_none());
        assert!(SessionStart::with_device(&long[1..], None).is_some());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let s =
            SessionStart::decode(br#"{"status":"CLIENT_READY","device_id":"d1","x":1}"#).unwrap();
        assert_eq!(s.device_id.as_deref(), Some("d1"));
    }
}
