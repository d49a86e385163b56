//! Device tokens and the platform's token file.
//!
//! A token is a high-entropy random secret: `vst1_` and 32 bytes from the operating
//! system's generator (ring's `SystemRandom`) in unpadded base64url, 256 bits. The platform
//! never stores it: its token file holds, per device, `sha256:<hex>` of the token's bytes.
//!
//! Why plain SHA-256 and not a password hash (bcrypt, scrypt, Argon2): those are slow on
//! purpose so that a stolen file does not reveal *guessable* passwords. A 256-bit random
//! token cannot be guessed, so one SHA-256 is already preimage-resistant beyond any search,
//! and a slow hash would only hand an unauthenticated peer a way to burn the platform's CPU
//! with every handshake (docs/protocol.md D91). Comparisons of hashes run in constant time
//! (`subtle`), so the time a refusal takes says nothing about how close a guess was.
//!
//! # Format of the token file
//! ```text
//! # comments and blank lines are ignored
//! cam-07 sha256:5f1c...e2   (device id, whitespace, the hash: 64 lowercase hex digits)
//! ```
//! `vstream token --device cam-07` prints a new token and its line.

use crate::wire::is_valid_device_id;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use subtle::ConstantTimeEq;

/// What every token starts with (a version tag, and a hint to secret scanners).
pub const TOKEN_PREFIX: &str = "vst1_";

/// The largest token file read, in bytes (a line per device: about 100 bytes each).
const MAX_TOKEN_FILE_LEN: u64 = 16 * 1024 * 1024;

/// Why a token could not be made or a token file read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The operating system's random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than anyone's token file.
    #[error("{path}: larger than {MAX_TOKEN_FILE_LEN} bytes")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// A line is not `DEVICE_ID sha256:HEX`.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// A device's secret token (the client's `--token`); `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<{} bytes>)", self.0.len())
    }
}

impl Token {
    /// A new random token: [`TOKEN_PREFIX`] and 32 random bytes in base64url.
    pub fn generate() -> Result<Token, TokenError> {
        use base64::Engine;
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| TokenError::Random)?;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Ok(Token(format!("{TOKEN_PREFIX}{text}")))
    }

    /// A token given by the user (trailing whitespace, as in a file, removed).
    pub fn new(text: &str) -> Token {
        Token(text.trim_end().to_owned())
    }

    /// The token's text, to send.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its hash, as the token file stores it.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

/// SHA-256 of a token; displayed as `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of `token`'s bytes.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Reads `sha256:<64 hex digits>`.
    pub fn parse(text: &str) -> Option<TokenHash> {
        let hex_digits = text.strip_prefix("sha256:")?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut out).ok()?;
        Some(TokenHash(out))
    }

    /// Constant-time equality.
    fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// The platform's token file: device id -> hash of its token.
#[derive(Debug, Clone, Default)]
pub struct TokenFile {
    hashes: HashMap<String, TokenHash>,
}

impl TokenFile {
    /// Reads a token file.
    pub fn load(path: &Path) -> Result<TokenFile, TokenError> {
        let io = |source| TokenError::Io {
            path: path.display().to_string(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_TOKEN_FILE_LEN {
            return Err(TokenError::TooLarge {
                path: path.display().to_string(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        TokenFile::parse(&text)
    }

    /// Parses a token file's text (format in the module doc).
    pub fn parse(text: &str) -> Result<TokenFile, TokenError> {
        let mut hashes = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_err = |reason: String| TokenError::Line {
                line: i + 1,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(device), Some(hash), None) = (words.next(), words.next(), words.next())
            else {
                return Err(line_err("expected `DEVICE_ID sha256:HEX`".into()));
            };
            if !is_valid_device_id(device) {
                return Err(line_err(
                    "the device id must be 1-128 bytes of A-Z a-z 0-9 . _ - : @".into(),
                ));
            }
            let Some(hash) = TokenHash::parse(hash) else {
                if hash.starts_with(TOKEN_PREFIX) {
                    return Err(line_err(
                        "this is a token, not its hash: store `vstream token`'s hash line".into(),
                    ));
                }
                return Err(line_err(
                    "the hash must be sha256: and 64 hex digits".into(),
                ));
            };
            if hashes.insert(device.to_owned(), hash).is_some() {
                return Err(line_err(format!("device {device} is listed twice")));
            }
        }
        Ok(TokenFile { hashes })
    }

    /// The devices listed.
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.hashes.keys().map(String::as_str)
    }

    /// How many devices are listed.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when no device is listed (every token is refused).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// True when `token` is `device_id`'s. The hashes are compared in constant time; an
    /// unknown device costs the same hash and comparison.
    pub fn verify(&self, device_id: &str, token: &str) -> bool {
        let presented = TokenHash::of(token);
        match self.hashes.get(device_id) {
            Some(stored) => stored.matches(&presented),
            None => {
                let _ = TokenHash([0; 32]).matches(&presented);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_random_and_prefixed() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with(TOKEN_PREFIX));
        assert_eq!(a.as_str().len(), TOKEN_PREFIX.len() + 43);
        assert!(!format!("{a:?}").contains(&a.as_str()[5..]));
    }

    #[test]
    fn a_token_file_verifies_its_devices() {
        let t1 = Token::generate().unwrap();
        let t2 = Token::generate().unwrap();
        let text = format!(
            "# devices\n\ncam-1 {}\n  cam-2\t{}  \n",
            t1.hash(),
            t2.hash()
        );
        let file = TokenFile::parse(&text).unwrap();
        assert_eq!(file.len(), 2);
        assert!(file.verify("cam-1", t1.as_str()));
        assert!(file.verify("cam-2", t2.as_str()));
        assert!(!file.verify("cam-1", t2.as_str()));
        assert!(!file.verify("cam-3", t1.as_str()));
        assert!(!file.verify("cam-1", ""));
    }

    #[test]
    fn hash_text_round_trips() {
        let t = Token::new("vst1_abc");
        let h = t.hash();
        assert_eq!(TokenHash::parse(&h.to_string()), Some(h));
        assert_eq!(
            h.to_string(),
            format!("sha256:{}", hex::encode(Sha256::digest(b"vst1_abc")))
        );
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let t = Token::generate().unwrap();
        for (text, line) in [
            ("cam-1".to_string(), 1),
            ("# c\ncam-1 sha256:00".to_string(), 2),
            (format!("cam/1 {}", t.hash()), 1),
            (format!("cam-1 {} extra", t.hash()), 1),
            (format!("cam-1 {}\ncam-1 {}", t.hash(), t.hash()), 2),
            (format!("cam-1 {}", t.as_str()), 1),
        ] {
            match TokenFile::parse(&text) {
                Err(TokenError::Line { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
