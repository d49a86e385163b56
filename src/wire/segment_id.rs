//! Transfer ids and the stable segment ids built from them (profile section 5).
//!
//! A segment id is an RFC 9562 version-8 UUID that carries the transfer id and the segment's
//! index, so a retransmitted segment keeps its id and a receiver orders and de-duplicates by
//! index. Ids of any other form (e.g. random version-4 ids of other clients) stay valid
//! segment ids; they just carry no index.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// A transfer's id: 48 bits, new per FileRequest, written as 12 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(u64);

impl TransferId {
    /// The largest value (48 bits set).
    pub const MAX: u64 = (1 << 48) - 1;

    /// The id with this value, or None when it does not fit in 48 bits.
    pub fn new(value: u64) -> Option<TransferId> {
        (value <= Self::MAX).then_some(TransferId(value))
    }

    /// The id from its six big-endian bytes.
    pub fn from_bytes(bytes: [u8; 6]) -> TransferId {
        let mut b = [0u8; 8];
        b[2..].copy_from_slice(&bytes);
        TransferId(u64::from_be_bytes(b))
    }

    /// The six big-endian bytes.
    pub fn to_bytes(self) -> [u8; 6] {
        let b = self.0.to_be_bytes();
        [b[2], b[3], b[4], b[5], b[6], b[7]]
    }

    /// The 48-bit value.
    pub fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TransferId {
    /// 12 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012x}", self.0)
    }
}

impl fmt::Debug for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransferId({self})")
    }
}

/// Why a string is not a transfer id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a transfer id is 12 hex digits")]
pub struct ParseTransferIdError;

impl FromStr for TransferId {
    type Err = ParseTransferIdError;
    /// Exactly 12 hex digits (either case is read; we write lowercase).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseTransferIdError);
        }
        u64::from_str_radix(s, 16)
            .map(TransferId)
            .map_err(|_| ParseTransferIdError)
    }
}

impl serde::Serialize for TransferId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TransferId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A segment's 16-byte id.
///
/// # Format
/// The ids this crate makes (profile section 5):
/// ```text
///  0                 6    7    8    9         12                16
/// +-------------------+----+----+----+---------+-----------------+
/// | transfer id (48b) | 80 | 00 | 80 | 00 00 00| index (u32 BE)  |
/// +-------------------+----+----+----+---------+-----------------+
/// ```
/// Byte 6 carries the UUID version 8, byte 8 the RFC 9562 variant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId(Uuid);

impl SegmentId {
    /// The id of segment `index` of transfer `transfer`.
    pub fn new(transfer: TransferId, index: u32) -> SegmentId {
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&transfer.to_bytes());
        b[6] = 0x80;
        b[8] = 0x80;
        b[12..].copy_from_slice(&index.to_be_bytes());
        SegmentId(Uuid::from_bytes(b))
    }

    /// Any 16 bytes as an id (ids of other clients need not be of our form).
    pub fn from_uuid(uuid: Uuid) -> SegmentId {
        SegmentId(uuid)
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The 16 bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        *self.0.as_bytes()
    }

    /// Transfer id and index, when the id has the form above; None otherwise.
    pub fn parts(&self) -> Option<(TransferId, u32)> {
        let b = self.0.as_bytes();
        let fixed = b[6] == 0x80 && b[7] == 0 && b[8] == 0x80 && b[9..12] == [0, 0, 0];
        if !fixed {
            return None;
        }
        let transfer = TransferId::from_bytes([b[0], b[1], b[2], b[3], b[4], b[5]]);
        let index = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
        Some((transfer, index))
    }

    /// The index, when the id has our form.
    pub fn index(&self) -> Option<u32> {
        self.parts().map(|(_, i)| i)
    }

    /// The transfer id, when the id has our form.
    pub fn transfer_id(&self) -> Option<TransferId> {
        self.parts().map(|(t, _)| t)
    }
}

impl From<Uuid> for SegmentId {
    fn from(u: Uuid) -> Self {
        SegmentId(u)
    }
}

impl fmt::Display for SegmentId {
    /// The hyphenated lowercase UUID.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for SegmentId {
    /// `SegmentId(<transfer>#<index>)` for our ids, else `SegmentId(<uuid>)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            Some((t, i)) => write!(f, "SegmentId({t}#{i})"),
            None => write!(f, "SegmentId({})", self.0.hyphenated()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_id_layout_matches_profile_and_parses_back() {
        let t = TransferId::new(0x0123_4567_89ab).unwrap();
        let id = SegmentId::new(t, 0x0102_0304);
        assert_eq!(
            id.to_bytes(),
            [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0x80, 0x00, 0x80, 0, 0, 0, 1, 2, 3, 4]
        );
        assert_eq!(id.as_uuid().get_version_num(), 8);
        assert_eq!(id.parts(), Some((t, 0x0102_0304)));
        assert_eq!(t.to_string(), "0123456789ab");
    }

    #[test]
    fn random_v4_ids_carry_no_index() {
        let u = Uuid::parse_str("550e8400-e29b-41d4-a716-446655440001").unwrap();
        assert_eq!(SegmentId::from_uuid(u).parts(), None);
    }

    #[test]
    fn transfer_id_text_form() {
        assert_eq!(
            "0123456789AB".parse::<TransferId>().unwrap().value(),
            0x0123_4567_89ab
        );
        assert!("0123456789a".parse::<TransferId>().is_err());
        assert!("0123456789abc".parse::<TransferId>().is_err());
        assert!("+123456789ab".parse::<TransferId>().is_err());
        assert!(TransferId::new(1 << 48).is_none());
    }
}
