//! The first fields of a slice header: enough to tell where a new picture begins.
//!
//! H.264 §7.4.1.2.4 says a VCL NAL unit starts a new primary coded picture when one of a
//! few slice-header fields differs from the previous slice's. Those fields all come in
//! the first few dozen bytes of the header, before the parts that can be long
//! (reference list modification, weighted prediction tables), so this module reads only
//! them, from the short prefix the scanner keeps, with `h264-reader`'s bit reader and the
//! SPS/PPS of `h264-reader`'s `Context`. (`h264_reader::nal::slice::SliceHeader::from_bits`
//! would need the whole header; and this runs once per slice on the hot path, so the
//! fields are read with [`RbspBits`], a small stack-only Exp-Golomb reader, several times
//! faster than the crate's general `BitReader` over `ByteReader`.)

use h264_reader::nal::pps::PicParamSetId;
use h264_reader::nal::sps::{FrameMbsFlags, PicOrderCntType};
use h264_reader::Context;

/// Raw bytes of a slice NAL unit kept with its key (header byte included).
const RAW_LEN: usize = super::annexb::NAL_PREFIX_LEN;

/// What a slice's header says about which picture it belongs to.
///
/// Read once per slice, with the SPS and PPS known at that point: `first_mb_in_slice`,
/// `slice_type` and `pic_parameter_set_id`, then (when the parameter sets are known) every
/// other field §7.4.1.2.4 compares, up to `redundant_pic_cnt`.
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
    /// The fields after `pic_parameter_set_id`; `None` when the SPS/PPS were unknown or the
    /// kept bytes ran out.
    detail: Option<SliceDetail>,
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
    /// Reads the key of a slice NAL unit (types 1, 2, 5); `nal` starts with its header byte
    /// (at most [`RAW_LEN`] bytes of it are read).
    ///
    /// Never fails: fields that cannot be read are left out, and the caller falls back on
    /// what is known (`first_mb_in_slice == 0`, IDR and reference changes).
    pub(crate) fn parse(nal: &[u8], ctx: &Context) -> SliceKey {
        let header = nal.first().copied().unwrap_or(0);
        let payload = nal.get(1..nal.len().min(RAW_LEN)).unwrap_or(&[]);
        let idr = header & 0x1f == 5;
        let mut r = RbspBits::new(payload);
        let first_mb = r.read_ue().ok();
        let slice_type = first_mb.and_then(|_| r.read_ue().ok());
        let pps_id = slice_type.and_then(|_| r.read_ue().ok());
        let detail = pps_id.and_then(|id| read_detail(ctx, &mut r, id, idr).ok().flatten());
        SliceKey {
            first_mb,
            slice_type,
            non_reference: header & 0x60 == 0,
            idr,
            detail,
        }
    }

    /// `pic_order_cnt_lsb` (pic_order_cnt_type 0 only), when the header could be read.
    pub(crate) fn pic_order_cnt_lsb(&self) -> Option<u32> {
        match self.detail.as_ref()?.pic_order_cnt {
            PocFields::Lsb(lsb, _) => Some(lsb),
            _ => None,
        }
    }

    /// True for a slice of a redundant coded picture (`redundant_pic_cnt > 0`).
    pub(crate) fn is_redundant(&self) -> bool {
        self.detail
            .as_ref()
            .is_some_and(|d| d.redundant_pic_cnt > 0)
    }

    /// True when this (primary) slice is the first of a new primary coded picture, given
    /// the previous primary slice, by H.264 §7.4.1.2.4: `frame_num`,
    /// `pic_parameter_set_id`, `field_pic_flag`, `bottom_field_flag`, `nal_ref_idc`
    /// zero-ness, `pic_order_cnt_lsb` / `delta_pic_order_cnt_bottom` /
    /// `delta_pic_order_cnt[]`, `IdrPicFlag` and `idr_pic_id` (D70). The slices of one
    /// picture may come in any order (arbitrary slice order): `first_mb_in_slice` decides
    /// nothing, except that a second slice at macroblock 0 in the same picture (which a
    /// conforming stream cannot have, but concatenated streams can) starts a new one.
    /// `seen_mb0` says whether the current picture already has a slice at macroblock 0.
    ///
    /// Without the SPS/PPS the fields cannot be read: then `first_mb_in_slice == 0`, an
    /// IDR change or a reference change starts a picture, and `partial` counts the others.
    pub(crate) fn starts_new_picture(
        &self,
        prev: &SliceKey,
        seen_mb0: bool,
        partial: &mut u64,
    ) -> bool {
        if self.non_reference != prev.non_reference || self.idr != prev.idr {
            return true;
        }
        let at_mb0 = self.first_mb == Some(0);
        match (&self.detail, &prev.detail) {
            (Some(a), Some(b)) => {
                a.frame_num != b.frame_num
                    || a.pic_parameter_set_id != b.pic_parameter_set_id
                    || a.field != b.field
                    || a.pic_order_cnt != b.pic_order_cnt
                    || (self.idr && a.idr_pic_id != b.idr_pic_id)
                    || (at_mb0 && seen_mb0)
            }
            _ if at_mb0 => true,
            _ => {
                *partial += 1;
                false
            }
        }
    }
}

/// Reads the fields after `pic_parameter_set_id` up to `redundant_pic_cnt`; `Ok(None)`
/// when the PPS or SPS is not known yet.
fn read_detail(
    ctx: &Context,
    r: &mut RbspBits,
    pps_id: u32,
    idr: bool,
) -> Result<Option<SliceDetail>, Eof> {
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
        r.read_bits(2)?;
    }
    let frame_num = r.read_bits(u32::from(sps.log2_max_frame_num()))?;
    let mut field = 0;
    if let FrameMbsFlags::Fields { .. } = sps.frame_mbs_flags {
        if r.read_bit()? {
            field = if r.read_bit()? { 2 } else { 1 };
        }
    }
    let idr_pic_id = if idr { Some(r.read_ue()?) } else { None };
    let bottom_present = pps.bottom_field_pic_order_in_frame_present_flag && field == 0;
    let pic_order_cnt = match &sps.pic_order_cnt {
        PicOrderCntType::TypeZero {
            log2_max_pic_order_cnt_lsb_minus4,
        } => {
            let bits = u32::from(*log2_max_pic_order_cnt_lsb_minus4) + 4;
            let lsb = r.read_bits(bits)?;
            let bottom = if bottom_present { r.read_se()? } else { 0 };
            PocFields::Lsb(lsb, bottom)
        }
        PicOrderCntType::TypeOne {
            delta_pic_order_always_zero_flag: false,
            ..
        } => {
            let d0 = r.read_se()?;
            let d1 = if bottom_present { r.read_se()? } else { 0 };
            PocFields::Delta(d0, d1)
        }
        PicOrderCntType::TypeOne { .. } | PicOrderCntType::TypeTwo => PocFields::None,
    };
    let redundant_pic_cnt = if pps.redundant_pic_cnt_present_flag {
        r.read_ue()?
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

/// The slice header's bits ran out before the field being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Eof;

/// Reads the first bytes of an RBSP (emulation-prevention bytes removed) bit by bit.
pub(crate) struct RbspBits {
    bytes: [u8; Self::CAP + 8],
    /// Valid bits in `bytes`.
    len: usize,
    /// Next bit to read.
    pos: usize,
}

impl RbspBits {
    /// RBSP bytes kept: far more than the slice-header fields this module reads.
    const CAP: usize = 48;

    /// Takes NAL payload bytes (after the header byte), dropping each `03` that follows `00 00`.
    pub(crate) fn new(payload: &[u8]) -> Self {
        let mut bytes = [0u8; Self::CAP + 8];
        let window = &payload[..payload.len().min(Self::CAP)];
        let escaped =
            memchr::memchr(3, window).is_some() && window.windows(3).any(|w| w == [0, 0, 3]);
        let n = if !escaped {
            // The common case: no emulation prevention in the header's first bytes.
            bytes[..window.len()].copy_from_slice(window);
            window.len()
        } else {
            let mut n = 0;
            let mut zeros = 0;
            for &b in payload {
                if n == Self::CAP {
                    break;
                }
                if zeros >= 2 && b == 3 {
                    zeros = 0;
                    continue;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                bytes[n] = b;
                n += 1;
            }
            n
        };
        RbspBits {
            bytes,
            len: n * 8,
            pos: 0,
        }
    }

    /// The next 64 bits from `pos` (zeros past the end), without consuming them.
    fn peek64(&self) -> u64 {
        let byte = self.pos / 8;
        let mut word = [0u8; 8];
        let end = (byte + 8).min(self.bytes.len());
        if byte < end {
            word[..end - byte].copy_from_slice(&self.bytes[byte..end]);
        }
        u64::from_be_bytes(word) << (self.pos % 8)
    }

    fn advance(&mut self, bits: usize) -> Result<(), Eof> {
        self.pos += bits;
        if self.pos > self.len {
            Err(Eof)
        } else {
            Ok(())
        }
    }

    /// `u(n)` for n <= 32.
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u32, Eof> {
        if n == 0 {
            return Ok(0);
        }
        let v = (self.peek64() >> (64 - n)) as u32;
        self.advance(n as usize)?;
        Ok(v)
    }

    pub(crate) fn read_bit(&mut self) -> Result<bool, Eof> {
        Ok(self.read_bits(1)? == 1)
    }

    /// `ue(v)`, up to 2^32 - 2.
    pub(crate) fn read_ue(&mut self) -> Result<u32, Eof> {
        let zeros = self.peek64().leading_zeros();
        if zeros > 31 {
            return Err(Eof);
        }
        self.advance(zeros as usize + 1)?;
        let rest = self.read_bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }

    /// `se(v)`.
    pub(crate) fn read_se(&mut self) -> Result<i32, Eof> {
        let k = i64::from(self.read_ue()?);
        Ok((if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) }) as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exp_golomb_and_fixed_fields() {
        // 1 | 010 | 011 | 00100 | 0000 1010 1 (ue 0, 1, 2, 3; u(9)=21) then 00111 (se -3)
        let bits = "1010011001000000101010011100";
        let mut bytes = vec![0u8; bits.len().div_ceil(8)];
        for (i, c) in bits.chars().enumerate() {
            if c == '1' {
                bytes[i / 8] |= 0x80 >> (i % 8);
            }
        }
        let mut r = RbspBits::new(&bytes);
        assert_eq!(r.read_ue(), Ok(0));
        assert_eq!(r.read_ue(), Ok(1));
        assert_eq!(r.read_ue(), Ok(2));
        assert_eq!(r.read_ue(), Ok(3));
        assert_eq!(r.read_bits(9), Ok(21));
        assert_eq!(r.read_se(), Ok(-3));
        assert_eq!(r.read_bits(8), Err(Eof));
    }

    #[test]
    fn drops_emulation_prevention_bytes() {
        let mut r = RbspBits::new(&[0, 0, 3, 1, 0x80]);
        assert_eq!(r.read_bits(24), Ok(1));
        assert_eq!(r.read_bit(), Ok(true));
    }

    #[test]
    fn all_zero_input_is_eof_not_a_huge_value() {
        let mut r = RbspBits::new(&[0; 10]);
        assert_eq!(r.read_ue(), Err(Eof));
        assert_eq!(RbspBits::new(&[]).read_ue(), Err(Eof));
    }
}
