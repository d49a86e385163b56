//! Picture order counts (H.264 8.2.1), for the presentation order of the fMP4 output (D75,
//! D79): type 0 from `pic_order_cnt_lsb` with its MSB tracked over reference pictures;
//! type 1 from `frame_num`, the SPS's expected offsets and the slice's
//! `delta_pic_order_cnt[]`; type 2 (and anything unreadable) in decode order.
//! Memory-management operation 5 is not followed (it resets the counts of the pictures
//! after it; streams using it are rare and then present in decode order at worst).

use crate::media::h264::slice::SliceKey;
use h264_reader::nal::sps::{PicOrderCntType, SeqParameterSet};

/// The SPS's type-1 parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TypeOne {
    max_frame_num: i64,
    offset_for_non_ref_pic: i64,
    offset_for_top_to_bottom_field: i64,
    offsets_for_ref_frame: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Mode {
    /// Type 0: `log2_max_pic_order_cnt_lsb`.
    Lsb(u32),
    /// Type 1.
    Expected(TypeOne),
    /// Type 2, or unknown: decode order.
    #[default]
    DecodeOrder,
}

/// Picture order count state across a stream's pictures.
#[derive(Debug, Default)]
pub(crate) struct PocState {
    mode: Mode,
    prev_ref_msb: i64,
    prev_ref_lsb: i64,
    prev_frame_num: i64,
    prev_frame_num_offset: i64,
    /// Pictures since the last IDR (the POC of type 2, which presents in decode order).
    decoded: i64,
}

impl PocState {
    /// Takes the counting rules of the stream's SPS.
    pub(crate) fn configure(&mut self, sps: &SeqParameterSet) {
        self.mode = match &sps.pic_order_cnt {
            PicOrderCntType::TypeZero {
                log2_max_pic_order_cnt_lsb_minus4,
            } => Mode::Lsb(u32::from(*log2_max_pic_order_cnt_lsb_minus4) + 4),
            PicOrderCntType::TypeOne {
                offset_for_non_ref_pic,
                offset_for_top_to_bottom_field,
                offsets_for_ref_frame,
                ..
            } => Mode::Expected(TypeOne {
                max_frame_num: 1i64 << sps.log2_max_frame_num(),
                offset_for_non_ref_pic: i64::from(*offset_for_non_ref_pic),
                offset_for_top_to_bottom_field: i64::from(*offset_for_top_to_bottom_field),
                offsets_for_ref_frame: offsets_for_ref_frame
                    .iter()
                    .map(|&o| i64::from(o))
                    .collect(),
            }),
            PicOrderCntType::TypeTwo => Mode::DecodeOrder,
        };
    }

    /// The POC of the picture whose first slice is `key`.
    pub(crate) fn next(&mut self, key: &SliceKey, idr: bool) -> i64 {
        if idr {
            *self = PocState {
                mode: std::mem::take(&mut self.mode),
                ..PocState::default()
            };
        }
        self.decoded += 1;
        match &self.mode {
            Mode::Lsb(bits) => match key.pic_order_cnt_lsb() {
                Some(lsb) => self.type_zero(*bits, i64::from(lsb), key.non_reference),
                None => self.decoded,
            },
            Mode::Expected(params) => match (key.frame_num(), key.delta_pic_order_cnt()) {
                (Some(frame_num), Some(delta)) => {
                    let params = params.clone();
                    self.type_one(&params, key, i64::from(frame_num), delta, idr)
                }
                _ => self.decoded,
            },
            Mode::DecodeOrder => self.decoded,
        }
    }

    /// 8.2.1.1.
    fn type_zero(&mut self, bits: u32, lsb: i64, non_reference: bool) -> i64 {
        let max = 1i64 << bits;
        let (prev_msb, prev_lsb) = (self.prev_ref_msb, self.prev_ref_lsb);
        let msb = if lsb < prev_lsb && prev_lsb - lsb >= max / 2 {
            prev_msb + max
        } else if lsb > prev_lsb && lsb - prev_lsb > max / 2 {
            prev_msb - max
        } else {
            prev_msb
        };
        if !non_reference {
            self.prev_ref_msb = msb;
            self.prev_ref_lsb = lsb;
        }
        msb + lsb
    }

    /// 8.2.1.2: the expected count from `frame_num` and the SPS's cycle of reference-frame
    /// offsets, plus the slice's deltas. For a field, that field's count; for a frame, the
    /// smaller of its two fields'.
    fn type_one(
        &mut self,
        p: &TypeOne,
        key: &SliceKey,
        frame_num: i64,
        (delta0, delta1): (i32, i32),
        idr: bool,
    ) -> i64 {
        let frame_num_offset = if idr {
            0
        } else if self.prev_frame_num > frame_num {
            self.prev_frame_num_offset + p.max_frame_num
        } else {
            self.prev_frame_num_offset
        };
        self.prev_frame_num = frame_num;
        self.prev_frame_num_offset = frame_num_offset;
        let cycle_len = p.offsets_for_ref_frame.len() as i64;
        let mut abs_frame_num = if cycle_len != 0 {
            frame_num_offset + frame_num
        } else {
            0
        };
        if key.non_reference && abs_frame_num > 0 {
            abs_frame_num -= 1;
        }
        let mut expected = 0;
        if abs_frame_num > 0 {
            let cycle = (abs_frame_num - 1) / cycle_len;
            let in_cycle = ((abs_frame_num - 1) % cycle_len) as usize;
            let per_cycle: i64 = p.offsets_for_ref_frame.iter().sum();
            expected = cycle * per_cycle + p.offsets_for_ref_frame[..=in_cycle].iter().sum::<i64>();
        }
        if key.non_reference {
            expected += p.offset_for_non_ref_pic;
        }
        let (delta0, delta1) = (i64::from(delta0), i64::from(delta1));
        match key.field() {
            Some((false, _)) => expected + delta0,
            Some((true, _)) => expected + p.offset_for_top_to_bottom_field + delta0,
            None => {
                let top = expected + delta0;
                let bottom = top + p.offset_for_top_to_bottom_field + delta1;
                top.min(bottom)
            }
        }
    }
}
