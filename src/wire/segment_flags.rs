//! The one-byte flag field of a video segment header.

use std::fmt;

/// Bit mask carried in a video segment header (specification, "视频分片格式").
///
/// ```text
/// 0x01 keyframe   0x02 SPS   0x04 PPS   0x08 IDR
/// 0x10 last segment of the transfer   0x20 error recovery (retransmission)
/// 0x40 priority   0x80 extended metadata present (profile section 7)
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SegmentFlags(pub u8);

impl SegmentFlags {
    /// The access unit holds an IDR picture (profile 7: open-GOP I frames are not keyframes).
    pub const KEYFRAME: SegmentFlags = SegmentFlags(0x01);
    /// The segment carries a sequence parameter set.
    pub const SPS: SegmentFlags = SegmentFlags(0x02);
    /// The segment carries a picture parameter set.
    pub const PPS: SegmentFlags = SegmentFlags(0x04);
    /// The segment holds an IDR picture.
    pub const IDR: SegmentFlags = SegmentFlags(0x08);
    /// Last segment of the transfer (profile 5).
    pub const END_OF_TRANSFER: SegmentFlags = SegmentFlags(0x10);
    /// The segment is sent again in answer to a retransmission request.
    pub const ERROR_RECOVERY: SegmentFlags = SegmentFlags(0x20);
    /// Priority segment.
    pub const PRIORITY: SegmentFlags = SegmentFlags(0x40);
    /// Extended metadata (u16 length + JSON) precedes the data (profile 7).
    pub const EXTENDED_METADATA: SegmentFlags = SegmentFlags(0x80);

    /// No flag set.
    pub const fn empty() -> Self {
        SegmentFlags(0)
    }
    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: SegmentFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Sets or clears the bits of `other`.
    pub fn set(&mut self, other: SegmentFlags, on: bool) {
        if on {
            self.0 |= other.0
        } else {
            self.0 &= !other.0
        }
    }
    /// `self` with the bits of `other` added.
    #[must_use]
    pub const fn with(self, other: SegmentFlags) -> Self {
        SegmentFlags(self.0 | other.0)
    }
}

impl std::ops::BitOr for SegmentFlags {
    type Output = SegmentFlags;
    fn bitor(self, rhs: Self) -> Self {
        SegmentFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for SegmentFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0
    }
}

const NAMES: [(u8, &str); 8] = [
    (0x01, "KEY"),
    (0x02, "SPS"),
    (0x04, "PPS"),
    (0x08, "IDR"),
    (0x10, "END"),
    (0x20, "RETX"),
    (0x40, "PRIO"),
    (0x80, "META"),
];

impl fmt::Display for SegmentFlags {
    /// `KEY|SPS|PPS|IDR`, or `-` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (bit, name) in NAMES {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SegmentFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentFlags({:#04x} {})", self.0, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_each_set_bit() {
        let f = SegmentFlags::KEYFRAME | SegmentFlags::SPS | SegmentFlags::PPS | SegmentFlags::IDR;
        assert_eq!(f.to_string(), "KEY|SPS|PPS|IDR");
        assert_eq!(f.bits(), 0x0f);
        assert_eq!(SegmentFlags::empty().to_string(), "-");
        assert!(f.contains(SegmentFlags::IDR));
        assert!(!f.contains(SegmentFlags::END_OF_TRANSFER));
    }
}
