//! What a planned segment's data is made of, its header, and how MP4 frame mode rewrites
//! a sample into the data it sends (D77).

use super::{PlannedSegment, SegmentPlan};
use crate::media::MediaError;
use crate::wire::{AudioHeader, SegmentFlags, SegmentHeader, SegmentId, VideoHeader};
use std::sync::Arc;

/// How the sender turns an MP4 H.264 sample into the segment's data (D77): read
/// `file_len` bytes at the segment's offset, replace each 4-byte NAL unit length by a start
/// code ([`crate::media::mp4::avcc_to_annexb_in_place`]), send `parameter_sets` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRewrite {
    /// Bytes read from the file.
    pub file_len: u64,
    /// The Annex-B SPS and PPS sent before a sync sample.
    pub parameter_sets: Option<Arc<[u8]>>,
}

impl SampleRewrite {
    /// The rewrite `seg` of `plan` needs; `None` for data sent as it is in the file.
    pub fn of(seg: &PlannedSegment, plan: &SegmentPlan) -> Option<SampleRewrite> {
        match seg.content {
            SegmentContent::AvcSample {
                file_len,
                with_parameter_sets,
            } => Some(SampleRewrite {
                file_len,
                parameter_sets: plan.parameter_sets().filter(|_| with_parameter_sets),
            }),
            _ => None,
        }
    }

    /// The segment's data from the sample's `file_len` bytes read from the file.
    ///
    /// # Errors
    /// [`MediaError::InvalidMp4`] when the sample's NAL unit lengths do not tile it.
    pub fn apply(&self, mut sample: Vec<u8>) -> Result<Vec<u8>, MediaError> {
        crate::media::mp4::avcc_to_annexb_in_place(&mut sample)?;
        match &self.parameter_sets {
            Some(sets) => {
                let mut data = Vec::with_capacity(sets.len() + sample.len());
                data.extend_from_slice(sets);
                data.extend_from_slice(&sample);
                Ok(data)
            }
            None => Ok(sample),
        }
    }
}

/// What a segment's data is made of (D77: MP4 frame mode sends samples, not file ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentContent {
    /// The file's bytes `[offset, offset + len)` as they are.
    FileBytes,
    /// An MP4 H.264 sample: the plan's [`parameter_sets`](SegmentPlan::parameter_sets) when
    /// `with_parameter_sets`, then the `file_len` bytes at `offset` with each 4-byte NAL unit
    /// length replaced by a start code ([`crate::media::mp4::avcc_to_annexb_in_place`]);
    /// `len` counts both.
    AvcSample {
        /// Bytes read from the file.
        file_len: u64,
        /// A sync sample: the parameter sets go first.
        with_parameter_sets: bool,
    },
    /// An AAC sample (raw, as stored), sent as an audio segment.
    AacFrame {
        /// Hz, for the audio header.
        sample_rate: u32,
        /// Channels, for the audio header.
        channels: u16,
    },
}

impl PlannedSegment {
    /// The segment's header for transfer segment id `id`, with `flags` (the plan's, plus
    /// what the sender adds): an audio header for AAC samples, else a video header.
    pub fn header(&self, id: SegmentId, flags: SegmentFlags) -> SegmentHeader {
        let data_length = u32::try_from(self.len).unwrap_or(u32::MAX);
        match self.content {
            SegmentContent::AacFrame {
                sample_rate,
                channels,
            } => SegmentHeader::Audio(AudioHeader {
                id,
                timestamp: self.timestamp,
                duration: self.duration,
                sample_rate,
                channels,
                data_length,
            }),
            _ => SegmentHeader::Video(VideoHeader {
                id,
                timestamp: self.timestamp,
                duration: self.duration,
                frame_count: self.frame_count,
                flags,
                data_length,
                metadata: None,
            }),
        }
    }

    /// Bytes read from the file for it (`len` but for what frame mode adds).
    pub fn file_len(&self) -> u64 {
        match self.content {
            SegmentContent::AvcSample { file_len, .. } => file_len,
            _ => self.len,
        }
    }
}
