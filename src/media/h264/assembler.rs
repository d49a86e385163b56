//! Groups NAL units into access units (H.264 §7.4.1.2.3), keeping SPS/PPS context.

use super::annexb::NalUnit;
use super::info::StreamInfo;
use super::slice::{slice_family_rank, SliceKey};
use super::splitter::ScanStats;
use super::sps::{parse_sps, ParsedSps};
use super::{AccessUnit, FrameType};
use crate::wire::SegmentFlags;
use h264_reader::nal::pps::PicParameterSet;
use h264_reader::nal::NalHeader;
use h264_reader::rbsp::{BitReader, ByteReader};
use h264_reader::Context;
use std::collections::VecDeque;

/// The access unit being assembled.
#[derive(Debug, Clone)]
struct PendingUnit {
    offset: u64,
    nal_count: u32,
    flags: SegmentFlags,
    /// A slice of the primary picture has been seen.
    has_picture: bool,
    /// Largest slice family seen: 0 none, 1 I, 2 P, 3 B.
    rank: u8,
    /// A primary slice at macroblock 0 has been seen.
    seen_mb0: bool,
}

impl PendingUnit {
    fn at(offset: u64) -> Self {
        PendingUnit {
            offset,
            nal_count: 0,
            flags: SegmentFlags::empty(),
            has_picture: false,
            rank: 0,
            seen_mb0: false,
        }
    }

    fn finish(&self, end: u64) -> AccessUnit {
        let frame_type = if !self.has_picture {
            None
        } else if self.flags.contains(SegmentFlags::IDR) {
            Some(FrameType::Key)
        } else {
            Some(match self.rank {
                3 => FrameType::B,
                2 => FrameType::P,
                _ => FrameType::I,
            })
        };
        AccessUnit {
            offset: self.offset,
            len: end - self.offset,
            flags: self.flags,
            frame_type,
            nal_count: self.nal_count,
        }
    }
}

/// NAL units in, access units out.
#[derive(Debug)]
pub(crate) struct Assembler {
    ctx: Context,
    pending: PendingUnit,
    /// The last slice of a primary picture, for §7.4.1.2.4.
    prev_slice: Option<SliceKey>,
    /// An SPS needed the lenient path and this was logged (once per stream).
    warned_level: bool,
    ready: VecDeque<AccessUnit>,
    stream_info: Option<StreamInfo>,
    pub(crate) stats: ScanStats,
}

impl Assembler {
    pub(crate) fn new() -> Self {
        Assembler {
            ctx: Context::new(),
            pending: PendingUnit::at(0),
            prev_slice: None,
            warned_level: false,
            ready: VecDeque::new(),
            stream_info: None,
            stats: ScanStats::default(),
        }
    }

    pub(crate) fn poll(&mut self) -> Option<AccessUnit> {
        self.ready.pop_front()
    }

    pub(crate) fn stream_info(&self) -> Option<&StreamInfo> {
        self.stream_info.as_ref()
    }

    /// Takes the next NAL unit of the stream.
    pub(crate) fn handle_nal(&mut self, nal: NalUnit<'_>) {
        self.stats.nal_units += 1;
        let header = nal.prefix.first().and_then(|&b| NalHeader::new(b).ok());
        let Some(header) = header else {
            // Empty unit or forbidden_zero_bit set: kept in the current access unit.
            self.stats.malformed_nal_units += 1;
            self.pending.nal_count += 1;
            return;
        };
        let nal_type = header.nal_unit_type().id();
        let slice = matches!(nal_type, 1 | 2 | 5).then(|| SliceKey::parse(nal.prefix, &self.ctx));
        // A slice of a redundant coded picture belongs to the primary picture before it.
        let primary = slice.as_ref().filter(|key| !key.is_redundant());
        let starts_unit = match (nal_type, primary) {
            // AUD, SEI, SPS, PPS, prefix/subset SPS and reserved types 17-18 (and 14-18) open a
            // new access unit when they follow a picture's slices.
            (6..=9 | 14..=18, _) => self.pending.has_picture,
            (_, Some(key)) => {
                let partial = &mut self.stats.partial_slice_headers;
                let seen_mb0 = self.pending.seen_mb0;
                self.pending.has_picture
                    && self
                        .prev_slice
                        .as_ref()
                        .is_none_or(|prev| key.starts_new_picture(prev, seen_mb0, partial))
            }
            _ => false,
        };
        if starts_unit && self.pending.nal_count > 0 {
            let unit = self.pending.finish(nal.start);
            self.ready.push_back(unit);
            self.stats.access_units += 1;
            self.pending = PendingUnit::at(nal.start);
        }
        self.pending.nal_count += 1;
        match nal_type {
            7 => {
                self.pending.flags |= SegmentFlags::SPS;
                self.read_sps(&nal);
            }
            8 => {
                self.pending.flags |= SegmentFlags::PPS;
                self.read_pps(&nal);
            }
            _ => {}
        }
        if let Some(key) = slice {
            self.pending.has_picture = true;
            if key.idr {
                self.pending.flags |= SegmentFlags::KEYFRAME | SegmentFlags::IDR;
            }
            let rank = key.slice_type.map_or(1, slice_family_rank);
            self.pending.rank = self.pending.rank.max(rank);
            if key.is_redundant() {
                self.stats.redundant_slices += 1;
            } else {
                self.pending.seen_mb0 |= key.first_mb == Some(0);
                self.prev_slice = Some(key);
            }
        }
    }

    /// Ends the stream at `end`: the last access unit extends to it.
    pub(crate) fn finish(&mut self, end: u64) {
        if self.pending.nal_count > 0 || end > self.pending.offset {
            let unit = self.pending.finish(end);
            self.ready.push_back(unit);
            self.stats.access_units += 1;
        }
        self.pending = PendingUnit::at(end);
    }

    fn read_sps(&mut self, nal: &NalUnit<'_>) {
        if !nal.complete {
            self.stats.parameter_set_errors += 1;
            return;
        }
        match parse_sps(nal.prefix) {
            Ok(ParsedSps {
                sps,
                level_exceeded,
            }) => {
                if level_exceeded {
                    self.stats.level_exceeded_sps += 1;
                    if !self.warned_level {
                        self.warned_level = true;
                        tracing::warn!(
                            level_idc = sps.level_idc,
                            "H.264 SPS: the picture size or DPB exceeds the written level's \
                             limits; the values are kept as written"
                        );
                    }
                }
                if self.stream_info.is_none() {
                    match StreamInfo::from_sps(&sps) {
                        Some(info) => self.stream_info = Some(info),
                        None => self.stats.parameter_set_errors += 1,
                    }
                }
                self.ctx.put_seq_param_set(sps);
            }
            Err(_) => self.stats.parameter_set_errors += 1,
        }
    }

    fn read_pps(&mut self, nal: &NalUnit<'_>) {
        if !nal.complete {
            self.stats.parameter_set_errors += 1;
            return;
        }
        let reader = BitReader::new(ByteReader::skipping_h264_header(nal.prefix));
        match PicParameterSet::from_bits(&self.ctx, reader) {
            Ok(pps) => self.ctx.put_pic_param_set(pps),
            Err(_) => self.stats.parameter_set_errors += 1,
        }
    }
}
