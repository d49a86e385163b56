//! Device authentication: who a connecting client is, and whether it may upload.
//!
//! Two standard ways, configured on the platform, usable together (docs/protocol.md
//! D90-D92):
//! - **mutual TLS**: the platform requires a client certificate chained to its
//!   `--client-ca`; rustls checks the chain during the handshake, and the device identity
//!   is the certificate's subject common name ([`crate::net::certificate_identity`]).
//! - **tokens**: SessionStart carries `device_id` and `token`; the platform's token file
//!   holds, per device, the SHA-256 of its token ([`TokenFile`]), and compares in constant
//!   time.
//!
//! [`DeviceAuth`] is the decision, pure and synchronous, so the session machine can take it
//! where it handles SessionStart: it returns the device's identity or an [`AuthRefusal`]
//! (StatusResponse 1004, then the connection closes with 1004).

pub mod certs;
mod token;

pub use token::{Token, TokenError, TokenFile, TokenHash, TOKEN_PREFIX};

use crate::wire::SessionStart;
use std::fmt;
use std::sync::Arc;

/// How a device proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Nothing: authentication is off, the id (if any) is only what the client claims.
    None,
    /// A client certificate chained to the platform's client CA.
    Certificate,
    /// A token matching the token file.
    Token,
    /// Both a certificate and a token, naming the same device.
    CertificateAndToken,
}

impl AuthMethod {
    /// A short name for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Certificate => "certificate",
            AuthMethod::Token => "token",
            AuthMethod::CertificateAndToken => "certificate+token",
        }
    }
}

/// Who is on the other end of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The device id: the certificate's subject name or the token's device id; with
    /// authentication off, what the client claimed (possibly nothing).
    pub device_id: Option<String>,
    /// How it was established.
    pub method: AuthMethod,
}

impl DeviceIdentity {
    /// True when the identity was proven (certificate and/or token).
    pub fn is_authenticated(&self) -> bool {
        self.method != AuthMethod::None
    }
}

impl fmt::Display for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.device_id, self.method) {
            (Some(id), AuthMethod::None) => write!(f, "{id} (claimed, not authenticated)"),
            (None, _) => f.write_str("anonymous"),
            (Some(id), method) => write!(f, "{id} ({})", method.name()),
        }
    }
}

/// Why a device was refused (1004 AuthenticationFailed). The text is for the platform's log
/// and the client's error; it never holds a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthRefusal {
    /// Tokens are required and SessionStart carried none.
    #[error("a device id and token are required")]
    TokenMissing,
    /// The device id is not in the token file, or the token does not match.
    #[error("device {0:?}: unknown device or wrong token")]
    TokenMismatch(String),
    /// A client certificate is required and none was presented.
    #[error("a client certificate is required")]
    CertificateMissing,
    /// The device id in SessionStart is not the certificate's.
    #[error("device id {claimed:?} does not match the certificate's {certified:?}")]
    IdentityMismatch {
        /// What SessionStart said.
        claimed: String,
        /// The certificate's subject name.
        certified: String,
    },
}

/// The platform's authentication policy.
#[derive(Debug, Clone, Default)]
pub struct DeviceAuth {
    /// Require a client certificate (the TLS layer checks its chain; see
    /// [`crate::net::server_crypto_mtls`]).
    pub require_certificate: bool,
    /// Require a token matching this file.
    pub tokens: Option<Arc<TokenFile>>,
}

impl DeviceAuth {
    /// No authentication: any device may connect.
    pub fn open() -> Self {
        DeviceAuth::default()
    }

    /// True when neither certificates nor tokens are required.
    pub fn is_open(&self) -> bool {
        !self.require_certificate && self.tokens.is_none()
    }

    /// Decides on a SessionStart: `certified` is the identity of the TLS client certificate,
    /// if one was presented (and verified by the TLS layer).
    pub fn authenticate(
        &self,
        certified: Option<&str>,
        start: &SessionStart,
    ) -> Result<DeviceIdentity, AuthRefusal> {
        let claimed = start.device_id.as_deref();
        if self.require_certificate && certified.is_none() {
            return Err(AuthRefusal::CertificateMissing);
        }
        if let (Some(certified), Some(claimed)) = (certified, claimed) {
            if certified != claimed {
                return Err(AuthRefusal::IdentityMismatch {
                    claimed: claimed.to_owned(),
                    certified: certified.to_owned(),
                });
            }
        }
        let token_ok = match &self.tokens {
            None => false,
            Some(tokens) => {
                let (Some(id), Some(token)) = (claimed, start.token.as_deref()) else {
                    return Err(AuthRefusal::TokenMissing);
                };
                if !tokens.verify(id, token) {
                    return Err(AuthRefusal::TokenMismatch(id.to_owned()));
                }
                true
            }
        };
        let cert_ok = self.require_certificate || certified.is_some();
        let method = match (cert_ok && certified.is_some(), token_ok) {
            (true, true) => AuthMethod::CertificateAndToken,
            (true, false) => AuthMethod::Certificate,
            (false, true) => AuthMethod::Token,
            (false, false) => AuthMethod::None,
        };
        Ok(DeviceIdentity {
            device_id: certified.or(claimed).map(str::to_owned),
            method,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(device: &str, token: &Token) -> Arc<TokenFile> {
        let line = format!("{device} {}\n", token.hash());
        Arc::new(TokenFile::parse(&line).unwrap())
    }

    #[test]
    fn open_policy_accepts_anyone_and_keeps_the_claim_unauthenticated() {
        let auth = DeviceAuth::open();
        let id = auth
            .authenticate(None, &SessionStart::client_ready())
            .unwrap();
        assert_eq!(id.device_id, None);
        assert!(!id.is_authenticated());
        let claimed = SessionStart::with_device("cam-1", None).unwrap();
        let id = auth.authenticate(None, &claimed).unwrap();
        assert_eq!(id.device_id.as_deref(), Some("cam-1"));
        assert_eq!(id.method, AuthMethod::None);
    }

    #[test]
    fn tokens_accept_the_right_one_only() {
        let token = Token::generate().unwrap();
        let auth = DeviceAuth {
            tokens: Some(tokens("cam-1", &token)),
            ..DeviceAuth::default()
        };
        let good = SessionStart::with_device("cam-1", Some(token.as_str())).unwrap();
        let id = auth.authenticate(None, &good).unwrap();
        assert_eq!(id.device_id.as_deref(), Some("cam-1"));
        assert_eq!(id.method, AuthMethod::Token);
        let other = Token::generate().unwrap();
        let wrong = SessionStart::with_device("cam-1", Some(other.as_str())).unwrap();
        assert_eq!(
            auth.authenticate(None, &wrong),
            Err(AuthRefusal::TokenMismatch("cam-1".into()))
        );
        let stranger = SessionStart::with_device("cam-2", Some(token.as_str())).unwrap();
        assert!(matches!(
            auth.authenticate(None, &stranger),
            Err(AuthRefusal::TokenMismatch(_))
        ));
        assert_eq!(
            auth.authenticate(None, &SessionStart::client_ready()),
            Err(AuthRefusal::TokenMissing)
        );
    }

    #[test]
    fn certificates_name_the_device_and_must_agree_with_the_claim() {
        let auth = DeviceAuth {
            require_certificate: true,
            ..DeviceAuth::default()
        };
        assert_eq!(
            auth.authenticate(None, &SessionStart::client_ready()),
            Err(AuthRefusal::CertificateMissing)
        );
        let id = auth
            .authenticate(Some("cam-9"), &SessionStart::client_ready())
            .unwrap();
        assert_eq!(id.device_id.as_deref(), Some("cam-9"));
        assert_eq!(id.method, AuthMethod::Certificate);
        let liar = SessionStart::with_device("cam-1", None).unwrap();
        assert!(matches!(
            auth.authenticate(Some("cam-9"), &liar),
            Err(AuthRefusal::IdentityMismatch { .. })
        ));
    }

    #[test]
    fn certificate_and_token_together() {
        let token = Token::generate().unwrap();
        let auth = DeviceAuth {
            require_certificate: true,
            tokens: Some(tokens("cam-1", &token)),
        };
        let good = SessionStart::with_device("cam-1", Some(token.as_str())).unwrap();
        let id = auth.authenticate(Some("cam-1"), &good).unwrap();
        assert_eq!(id.method, AuthMethod::CertificateAndToken);
        assert!(auth.authenticate(None, &good).is_err());
    }
}
