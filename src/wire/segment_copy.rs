//! Copies of realtime segments in QUIC DATAGRAM frames (D121): after a small realtime
//! segment's stream, the client sends the same bytes (header and data, exactly the
//! stream's) again, cut into at most [`MAX_COPY_FRAGMENTS`] datagrams. The platform stores
//! the copy when it is whole before the stream is; otherwise it discards it. The stream
//! stays the reliable path: a peer that ignores datagrams loses nothing.
//!
//! Each datagram:
//! ```text
//! 0   2  magic "VC"
//! 2   1  fragment number, from 0
//! 3   1  fragment count, 1..=MAX_COPY_FRAGMENTS
//! 4   6  transfer id (big-endian, as in segment ids)
//! 10  4  segment index (big-endian)
//! 14  .. the fragment's bytes; the copy is the fragments' bytes in number order
//! ```

use super::{TransferId, WireError};
use bytes::{BufMut, Bytes, BytesMut};

/// The first bytes of every copy datagram.
pub const COPY_MAGIC: [u8; 2] = *b"VC";
/// Bytes before a fragment's data.
pub const COPY_PREFIX: usize = 14;
/// Fragments of one copy at most.
pub const MAX_COPY_FRAGMENTS: u8 = 4;
/// The largest segment (header and data) that is copied.
pub const MAX_COPY_LEN: usize = 8 * 1024;

/// One fragment of a segment copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFragment {
    /// The segment's transfer.
    pub transfer: TransferId,
    /// The segment's index.
    pub index: u32,
    /// Which fragment, from 0.
    pub number: u8,
    /// How many fragments the copy has.
    pub count: u8,
    /// The fragment's bytes.
    pub bytes: Bytes,
}

impl CopyFragment {
    /// Cuts `segment` (a segment's whole stream bytes) into datagrams of at most
    /// `max_datagram` bytes, of equal lengths but the last; None when it is empty, longer
    /// than [`MAX_COPY_LEN`], or needs more than [`MAX_COPY_FRAGMENTS`] datagrams.
    pub fn split(
        transfer: TransferId,
        index: u32,
        segment: &[u8],
        max_datagram: usize,
    ) -> Option<Vec<Bytes>> {
        let room = max_datagram.checked_sub(COPY_PREFIX).filter(|r| *r > 0)?;
        if segment.is_empty() || segment.len() > MAX_COPY_LEN {
            return None;
        }
        let count = u8::try_from(segment.len().div_ceil(room))
            .ok()
            .filter(|c| *c <= MAX_COPY_FRAGMENTS)?;
        let per = segment.len().div_ceil(usize::from(count));
        let datagrams = segment
            .chunks(per)
            .zip(0u8..)
            .map(|(bytes, number)| {
                let mut b = BytesMut::with_capacity(COPY_PREFIX + bytes.len());
                b.put_slice(&COPY_MAGIC);
                b.put_u8(number);
                b.put_u8(count);
                b.put_slice(&transfer.to_bytes());
                b.put_u32(index);
                b.put_slice(bytes);
                b.freeze()
            })
            .collect();
        Some(datagrams)
    }

    /// Reads one datagram; anything that is not a well-formed copy fragment (a tail probe,
    /// D109, is empty) is an error, and the caller discards it.
    pub fn decode(datagram: &Bytes) -> Result<CopyFragment, WireError> {
        if datagram.len() <= COPY_PREFIX {
            return Err(WireError::Truncated {
                kind: "SegmentCopy",
                needed: COPY_PREFIX + 1,
                available: datagram.len(),
            });
        }
        if datagram[..2] != COPY_MAGIC {
            return Err(WireError::FieldOutOfRange {
                kind: "SegmentCopy",
                field: "magic",
                value: format!("{:02x}{:02x}", datagram[0], datagram[1]),
                allowed: "\"VC\"",
            });
        }
        let (number, count) = (datagram[2], datagram[3]);
        if count == 0 || count > MAX_COPY_FRAGMENTS || number >= count {
            return Err(WireError::FieldOutOfRange {
                kind: "SegmentCopy",
                field: "fragment",
                value: format!("{number}/{count}"),
                allowed: "number < count <= 4",
            });
        }
        let mut id = [0u8; 6];
        id.copy_from_slice(&datagram[4..10]);
        let mut index = [0u8; 4];
        index.copy_from_slice(&datagram[10..14]);
        Ok(CopyFragment {
            transfer: TransferId::from_bytes(id),
            index: u32::from_be_bytes(index),
            number,
            count,
            bytes: datagram.slice(COPY_PREFIX..),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_splits_into_equal_fragments_and_reads_back() {
        let t = TransferId::new(0x0102_0304_0506).unwrap();
        let segment: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let parts = CopyFragment::split(t, 9, &segment, 1200).unwrap();
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.len() <= 1200));
        assert_eq!(&parts[0][..4], b"VC\x00\x03");
        let mut back = Vec::new();
        for (n, p) in parts.iter().enumerate() {
            let f = CopyFragment::decode(p).unwrap();
            assert_eq!((f.transfer, f.index, f.number, f.count), (t, 9, n as u8, 3));
            back.extend_from_slice(&f.bytes);
        }
        assert_eq!(back, segment);
        assert_eq!(
            CopyFragment::split(t, 0, &segment[..100], 1200)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn too_large_segments_are_not_copied_and_bad_datagrams_are_refused() {
        let t = TransferId::new(1).unwrap();
        assert!(CopyFragment::split(t, 0, &[0; MAX_COPY_LEN + 1], 65_000).is_none());
        assert!(
            CopyFragment::split(t, 0, &[0; 5000], 1200).is_none(),
            "5 fragments"
        );
        assert!(CopyFragment::split(t, 0, &[0; 10], COPY_PREFIX).is_none());
        assert!(CopyFragment::split(t, 0, &[], 1200).is_none());
        for bad in [
            Bytes::new(),
            Bytes::from_static(b"VC\x00\x01abcdefghij"),
            Bytes::from_static(b"XX\x00\x01abcdefghijk"),
            Bytes::from_static(b"VC\x01\x01abcdefghijk"),
            Bytes::from_static(b"VC\x00\x05abcdefghijk"),
            Bytes::from_static(b"VC\x00\x00abcdefghijk"),
        ] {
            assert!(CopyFragment::decode(&bad).is_err(), "{bad:?}");
        }
    }
}
