//! The compact access-unit table of an H.264 plan, and how GOP and time modes group it.

use crate::media::h264::{AccessUnit, FrameType};
use crate::wire::SegmentFlags;

/// GOP mode closes a segment before it would exceed this many bytes (specification).
pub const GOP_MAX_BYTES: u64 = 64 * 1024;
/// GOP mode closes a segment before it would exceed this many access units (specification).
pub const GOP_MAX_FRAMES: u32 = 30;

/// One entry per access unit: 8 bytes of offset plus 1 byte of flags and frame type.
///
/// Lengths are not stored: access units partition the file, so unit `i` ends where unit
/// `i + 1` starts (`offsets` has one more entry, the end of the file).
#[derive(Debug, Clone, Default)]
pub(crate) struct UnitTable {
    offsets: Vec<u64>,
    /// Low nibble: `KEYFRAME | SPS | PPS | IDR` bits; bits 4-6: [`FrameType`] code.
    meta: Vec<u8>,
    /// Indices of the units holding an IDR picture.
    pub(crate) keyframes: Vec<u64>,
}

impl UnitTable {
    /// Appends the next access unit of the stream. A unit without a picture (only trailing
    /// parameter sets or garbage after the last picture) is merged into the previous one.
    pub(crate) fn push(&mut self, unit: &AccessUnit) {
        let bits = unit.flags.bits() & 0x0f;
        match self.meta.last_mut() {
            Some(last) if !unit.has_picture() => *last |= bits & !0x09,
            _ => {
                if unit.is_idr() {
                    self.keyframes.push(self.meta.len() as u64);
                }
                self.offsets.push(unit.offset);
                self.meta
                    .push(bits | (FrameType::to_code(unit.frame_type) << 4));
            }
        }
    }

    /// Closes the table at the end of the stream.
    pub(crate) fn close(&mut self, end: u64) {
        self.offsets.push(end);
        self.offsets.shrink_to_fit();
        self.meta.shrink_to_fit();
    }

    /// Number of access units.
    pub(crate) fn len(&self) -> usize {
        self.meta.len()
    }

    /// True when at least one unit holds a picture.
    pub(crate) fn has_pictures(&self) -> bool {
        self.meta.iter().any(|m| m >> 4 != 0)
    }

    /// Byte offset of unit `i` (`i == len()` gives the end of the file).
    pub(crate) fn offset(&self, i: usize) -> u64 {
        self.offsets[i]
    }

    fn unit_len(&self, i: usize) -> u64 {
        self.offsets[i + 1] - self.offsets[i]
    }

    fn is_idr(&self, i: usize) -> bool {
        self.meta[i] & 0x08 != 0
    }

    /// Flags of the run `first..end`: SPS/PPS/IDR over all units, KEYFRAME from the first.
    pub(crate) fn run_flags(&self, first: usize, end: usize) -> SegmentFlags {
        let union = self.meta[first..end].iter().fold(0u8, |acc, m| acc | m);
        SegmentFlags((union & 0x0e) | (self.meta[first] & 0x01))
    }

    /// Frame type of unit `i`.
    pub(crate) fn frame_type(&self, i: usize) -> Option<FrameType> {
        FrameType::from_code(self.meta[i] >> 4)
    }

    /// GOP mode: a segment starts at each IDR, and before a unit that would take it past
    /// [`GOP_MAX_BYTES`] or [`GOP_MAX_FRAMES`]. A unit larger than the byte limit is alone.
    pub(crate) fn group_gop(&self) -> Vec<u32> {
        self.group(|t, i, frames, bytes| {
            t.is_idr(i) || frames + 1 > GOP_MAX_FRAMES || bytes + t.unit_len(i) > GOP_MAX_BYTES
        })
    }

    /// Time mode: runs of `target` units; a run also ends before an IDR once it holds at
    /// least half the target, so segments tend to start at IDRs.
    pub(crate) fn group_time(&self, target: u32) -> Vec<u32> {
        let target = target.max(1);
        let half = target.div_ceil(2);
        self.group(|t, i, frames, _| frames >= target || (t.is_idr(i) && frames >= half))
    }

    /// Start unit of each segment; `cut(table, i, frames, bytes)` says whether unit `i`
    /// starts a new segment when the current one holds `frames` units and `bytes` bytes.
    fn group(&self, mut cut: impl FnMut(&Self, usize, u32, u64) -> bool) -> Vec<u32> {
        let mut starts = Vec::new();
        let (mut frames, mut bytes) = (0u32, 0u64);
        for i in 0..self.len() {
            if i == 0 || cut(self, i, frames, bytes) {
                starts.push(i as u32);
                frames = 0;
                bytes = 0;
            }
            frames += 1;
            bytes += self.unit_len(i);
        }
        starts.shrink_to_fit();
        starts
    }
}
