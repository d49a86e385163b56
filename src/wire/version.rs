//! VersionNegotiation: the three-byte protocol version and the compatibility rule.
//!
//! The specification's example `AQAAAgAA` decodes to six bytes `01 00 00 02 00 00`
//! (profile section 1). We send exactly three bytes and accept three or more, reading the
//! first three, so that example still means 1.0.0.

use bytes::{Buf, BufMut};
use std::fmt;

use super::WireError;

const KIND: &str = "VersionNegotiation";

/// A protocol version, the VersionNegotiation payload.
///
/// # Format
/// ```text
/// +-------+-------+-------+ - - - - - - - - - - - - - - +
/// | major | minor | patch | (further bytes: ignored)     |
/// +-------+-------+-------+ - - - - - - - - - - - - - - +
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolVersion {
    /// Major version: peers are compatible when it is equal.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Patch version.
    pub patch: u8,
}

impl ProtocolVersion {
    /// The version this crate implements: 1.0.0.
    pub const CURRENT: ProtocolVersion = ProtocolVersion::new(1, 0, 0);

    /// A version from its parts.
    pub const fn new(major: u8, minor: u8, patch: u8) -> Self {
        ProtocolVersion {
            major,
            minor,
            patch,
        }
    }

    /// Same major version (profile section 3).
    pub fn is_compatible(&self, other: &ProtocolVersion) -> bool {
        self.major == other.major
    }

    /// `Ok` when `theirs` is compatible with `self`, else 1008 ProtocolVersionMismatch.
    pub fn check_compatible(&self, theirs: &ProtocolVersion) -> Result<(), WireError> {
        if self.is_compatible(theirs) {
            Ok(())
        } else {
            Err(WireError::VersionMismatch {
                ours: self.to_string(),
                theirs: theirs.to_string(),
            })
        }
    }

    /// Writes exactly three bytes.
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_slice(&[self.major, self.minor, self.patch]);
    }

    /// Reads the first three bytes and consumes the rest of the payload (profile section 1).
    pub fn decode(buf: &mut impl Buf) -> Result<Self, WireError> {
        if buf.remaining() < 3 {
            return Err(WireError::Truncated {
                kind: KIND,
                needed: 3,
                available: buf.remaining(),
            });
        }
        let v = ProtocolVersion::new(buf.get_u8(), buf.get_u8(), buf.get_u8());
        buf.advance(buf.remaining());
        Ok(v)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_byte_spec_example_reads_first_three() {
        let mut b = &[1u8, 0, 0, 2, 0, 0][..];
        assert_eq!(
            ProtocolVersion::decode(&mut b).unwrap(),
            ProtocolVersion::CURRENT
        );
        assert!(b.is_empty());
        let mut out = Vec::new();
        ProtocolVersion::CURRENT.encode(&mut out);
        assert_eq!(out, [1, 0, 0]);
    }

    #[test]
    fn compatibility_is_same_major() {
        let v = ProtocolVersion::CURRENT;
        assert!(v.check_compatible(&ProtocolVersion::new(1, 9, 3)).is_ok());
        let e = v
            .check_compatible(&ProtocolVersion::new(2, 0, 0))
            .unwrap_err();
        assert_eq!(e.status_code(), 1008);
        let e = ProtocolVersion::decode(&mut &[1u8, 0][..]).unwrap_err();
        assert_eq!(e.status_code(), 400);
    }
}
