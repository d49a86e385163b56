//! The first fields of a slice header: enough to tell where a new picture begins.
//!
//! H.264 §7.4.1.2.4 says a VCL NAL unit starts a new primary coded picture when one of a
//! few slice-header fields differs from the previous slice's. Those fields all come in
//! the first few dozen bytes of the header, before the parts that can be long
//! (reference list modification, weighted prediction tables), so this module reads only
//! them, from the short prefix the scanner keeps, with `h264-reader`'s bit reader and the
//! SPS/PPS of its `Context`. (`h264_reader::nal::slice::SliceHeader::from_bits` would need
//! the whole header.)

use h264_reader::nal::pps::PicParamSetId;
use h264_reader::nal::sps::{FrameMbsFlags, PicOrderCntType};
use h264_reader::rbsp::{BitRead, BitReader, BitReaderError, ByteReader};
use h264_reader::Context;

/// What a slice's header says about which picture it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SliceKey {
    /// `first_mb_in_slice`, if the header could be read that far.
    pub(crate) first_mb: Option<u32>,
    /// `slice_type` (0..=9), if the header could be read that far.
    pub(crate) slice_type: Option<u32>,
    /// `nal_ref_idc == 0`.
    pub(crate) non_reference: bool,
    /// `IdrPicFlag` (nal_unit_type 5).
    pub(crate) idr: bool,
    /// The fields that need the SPS and PPS, when both were known and the header was whole.
    pub(crate) detail: Option<SliceDetail>,
}

/// The §7.4.1.2.4 fields that can only be read with the active SPS and PPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SliceDetail {
    pic_parameter_set_id: u32,
    frame_num: u32,
    /// 0 frame, 1 top field, 2 bottom field.
    field: u8,
    idr_pic_id: Option<u32>,
    pic_order_cnt: PocFields,
    redundant_pic_cnt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PocFields {
    /// pic_order_cnt_type 2: nothing to compare.
    None,
    /// pic_order_cnt_type 0: `pic_order_cnt_lsb`, `delta_pic_order_cnt_bottom`.
    Lsb(u32, i32),
    /// pic_order_cnt_type 1: `delta_pic_order_cnt[0..2]`.
    Delta(i32, i32),
}

/// Coarse slice type families, ordered so the "largest" names the picture: I < P < B.
pub(crate) fn slice_family_rank(slice_type: u32) -> u8 {
    match slice_type % 5 {
        0 | 3 => 2, // P, SP
        1 => 3,     // B
        _ => 1,     // I, SI
    }
}

impl SliceKey {
    /// Reads the key of a slice NAL unit (types 1, 2, 5); `nal` starts with its header byte.
    ///
    /// Never fails: fields that cannot be read are left out, and the caller falls back on
    /// what is known (`first_mb_in_slice == 0`, IDR and reference changes).
    pub(crate) fn parse(ctx: &Context, nal: &[u8]) -> SliceKey {
        let header = nal.first().copied().unwrap_or(0);
        let mut key = SliceKey {
            first_mb: None,
            slice_type: None,
            non_reference: header & 0x60 == 0,
            idr: header & 0x1f == 5,
            detail: None,
        };
        let mut r = BitReader::new(ByteReader::skipping_h264_header(nal));
        let Ok(first_mb) = r.read_ue("first_mb_in_slice") else {
            return key;
        };
        key.first_mb = Some(first_mb);
        let Ok(slice_type) = r.read_ue("slice_type") else {
            return key;
        };
        key.slice_type = Some(slice_type);
        key.detail = read_detail(ctx, &mut r, key.idr).ok().flatten();
        key
    }

    /// True when this slice is the first of a new primary coded picture, given the
    /// previous slice (§7.4.1.2.4; redundant slices never start one).
    ///
    /// Fast path: `first_mb_in_slice == 0` starts a picture (streams using arbitrary slice
    /// order, where slice 0 may come later, are not supported). Otherwise the fields of
    /// §7.4.1.2.4 are compared: `frame_num`, `pic_parameter_set_id`, `field_pic_flag`,
    /// `bottom_field_flag`, `nal_ref_idc` zero-ness, `pic_order_cnt_lsb` /
    /// `delta_pic_order_cnt_bottom` / `delta_pic_order_cnt[]`, `IdrPicFlag`, `idr_pic_id`.
    pub(crate) fn starts_new_picture(&self, prev: &SliceKey) -> bool {
        if let Some(d) = &self.detail {
            if d.redundant_pic_cnt > 0 {
                return false;
            }
        }
        if self.first_mb == Some(0) {
            return true;
        }
        if self.non_reference != prev.non_reference || self.idr != prev.idr {
            return true;
        }
        match (&self.detail, &prev.detail) {
            (Some(a), Some(b)) => {
                a.frame_num != b.frame_num
                    || a.pic_parameter_set_id != b.pic_parameter_set_id
                    || a.field != b.field
                    || a.pic_order_cnt != b.pic_order_cnt
                    || (self.idr && a.idr_pic_id != b.idr_pic_id)
            }
            _ => false,
        }
    }
}

/// Reads `pic_parameter_set_id` .. `redundant_pic_cnt`; `Ok(None)` when the PPS or SPS is
/// not known yet.
fn read_detail<R: BitRead>(
    ctx: &Context,
    r: &mut R,
    idr: bool,
) -> Result<Option<SliceDetail>, BitReaderError> {
    let pps_id = r.read_ue("pic_parameter_set_id")?;
    let Some(pps) = PicParamSetId::from_u32(pps_id)
        .ok()
        .and_then(|id| ctx.pps_by_id(id))
    else {
        return Ok(None);
    };
    let Some(sps) = ctx.sps_by_id(pps.seq_parameter_set_id) else {
        return Ok(None);
    };
    if sps.chroma_info.separate_colour_plane_flag {
        r.skip(2, "colour_plane_id")?;
    }
    let frame_num = r.read_var::<u32>(u32::from(sps.log2_max_frame_num()), "frame_num")?;
    let mut field = 0;
    if let FrameMbsFlags::Fields { .. } = sps.frame_mbs_flags {
        if r.read_bit("field_pic_flag")? {
            field = if r.read_bit("bottom_field_flag")? {
                2
            } else {
                1
            };
        }
    }
    let idr_pic_id = if idr {
        Some(r.read_ue("idr_pic_id")?)
    } else {
        None
    };
    let bottom_present = pps.bottom_field_pic_order_in_frame_present_flag && field == 0;
    let pic_order_cnt = match &sps.pic_order_cnt {
        PicOrderCntType::TypeZero {
            log2_max_pic_order_cnt_lsb_minus4,
        } => {
            let bits = u32::from(*log2_max_pic_order_cnt_lsb_minus4) + 4;
            let lsb = r.read_var::<u32>(bits, "pic_order_cnt_lsb")?;
            let bottom = if bottom_present {
                r.read_se("delta_pic_order_cnt_bottom")?
            } else {
                0
            };
            PocFields::Lsb(lsb, bottom)
        }
        PicOrderCntType::TypeOne {
            delta_pic_order_always_zero_flag: false,
            ..
        } => {
            let d0 = r.read_se("delta_pic_order_cnt[0]")?;
            let d1 = if bottom_present {
                r.read_se("delta_pic_order_cnt[1]")?
            } else {
                0
            };
            PocFields::Delta(d0, d1)
        }
        PicOrderCntType::TypeOne { .. } | PicOrderCntType::TypeTwo => PocFields::None,
    };
    let redundant_pic_cnt = if pps.redundant_pic_cnt_present_flag {
        r.read_ue("redundant_pic_cnt")?
    } else {
        0
    };
    Ok(Some(SliceDetail {
        pic_parameter_set_id: pps_id,
        frame_num,
        field,
        idr_pic_id,
        pic_order_cnt,
        redundant_pic_cnt,
    }))
}
