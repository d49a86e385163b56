//! `stbl` and its sample tables: where each sample lies in the file (`stsc`, `stsz`/`stz2`,
//! `stco`/`co64`), when it is decoded and shown (`stts`, `ctts`) and which are sync samples
//! (`stss`).
//!
//! Every table's `entry_count` is checked against its box size before anything is allocated,
//! so memory stays proportional to the bytes of the tables themselves.

pub(crate) mod stsd;

use super::super::super::atom::{decode_atom, missing, set_once, Atom, Body, FourCC, Strictness};
use crate::media::MediaError;
use stsd::Stsd;

/// `stbl`: the sample table box. `stsd`, `stts`, `stsc`, a size table (`stsz` or `stz2`) and
/// a chunk offset table (`stco` or `co64`) are required; `ctts` and `stss` are optional.
#[derive(Debug, Clone)]
pub(crate) struct Stbl {
    pub(crate) stsd: Stsd,
    pub(crate) stts: Stts,
    pub(crate) ctts: Option<Ctts>,
    pub(crate) stss: Option<Stss>,
    pub(crate) stsc: Stsc,
    pub(crate) stsz: Stsz,
    pub(crate) stco: Stco,
}

impl Atom for Stbl {
    const KIND: FourCC = FourCC(*b"stbl");

    fn decode_body(body: &mut Body<'_>, strictness: Strictness) -> Result<Self, MediaError> {
        let (mut stsd, mut stts, mut ctts, mut stss) = (None, None, None, None);
        let (mut stsc, mut stsz, mut stco) = (None, None, None);
        let k = Self::KIND;
        for child in body.children() {
            let (kind, data) = child?;
            let s = strictness;
            match kind {
                Stsd::KIND => set_once(&mut stsd, decode_atom(data, s)?, k, kind, s)?,
                Stts::KIND => set_once(&mut stts, decode_atom(data, s)?, k, kind, s)?,
                Ctts::KIND => set_once(&mut ctts, decode_atom(data, s)?, k, kind, s)?,
                Stss::KIND => set_once(&mut stss, decode_atom(data, s)?, k, kind, s)?,
                Stsc::KIND => set_once(&mut stsc, decode_atom(data, s)?, k, kind, s)?,
                Stsz::KIND => set_once(&mut stsz, decode_atom(data, s)?, k, kind, s)?,
                Stz2::KIND => {
                    let Stz2(table) = decode_atom(data, s)?;
                    set_once(&mut stsz, table, k, kind, s)?
                }
                Stco::KIND => set_once(&mut stco, decode_atom(data, s)?, k, kind, s)?,
                Co64::KIND => {
                    let Co64(table) = decode_atom(data, s)?;
                    set_once(&mut stco, table, k, kind, s)?
                }
                _ => {}
            }
        }
        Ok(Stbl {
            stsd: stsd.ok_or_else(|| missing(k, Stsd::KIND))?,
            stts: stts.ok_or_else(|| missing(k, Stts::KIND))?,
            ctts,
            stss,
            stsc: stsc.ok_or_else(|| missing(k, Stsc::KIND))?,
            stsz: stsz.ok_or_else(|| missing(k, Stsz::KIND))?,
            stco: stco.ok_or_else(|| missing(k, Stco::KIND))?,
        })
    }
}

/// One `stts` run: `sample_count` samples each lasting `sample_delta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SttsEntry {
    pub(crate) sample_count: u32,
    pub(crate) sample_delta: u32,
}

/// `stts`: decoding time to sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stts {
    pub(crate) entries: Vec<SttsEntry>,
}

impl Atom for Stts {
    const KIND: FourCC = FourCC(*b"stts");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        body.full_box()?;
        let count = body.entry_count(8)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(SttsEntry {
                sample_count: body.u32()?,
                sample_delta: body.u32()?,
            });
        }
        Ok(Stts { entries })
    }
}

impl Stts {
    /// The sum of all sample durations, in media timescale units.
    pub(crate) fn total_duration(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| u64::from(e.sample_count) * u64::from(e.sample_delta))
            .fold(0u64, u64::saturating_add)
    }
}

/// One `ctts` run: `sample_count` samples whose composition time is decode time + offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CttsEntry {
    pub(crate) sample_count: u32,
    /// Signed in version 1; read as signed in version 0 too, as common demuxers do.
    pub(crate) sample_offset: i32,
}

/// `ctts`: composition time to sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ctts {
    pub(crate) entries: Vec<CttsEntry>,
}

impl Atom for Ctts {
    const KIND: FourCC = FourCC(*b"ctts");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        body.full_box()?;
        let count = body.entry_count(8)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(CttsEntry {
                sample_count: body.u32()?,
                sample_offset: body.u32()? as i32,
            });
        }
        Ok(Ctts { entries })
    }
}

/// `stss`: the sync samples, 1-based sample numbers in increasing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stss {
    pub(crate) sample_number: Vec<u32>,
}

impl Atom for Stss {
    const KIND: FourCC = FourCC(*b"stss");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        body.full_box()?;
        let count = body.entry_count(4)?;
        let mut sample_number = Vec::with_capacity(count);
        for _ in 0..count {
            sample_number.push(body.u32()?);
        }
        Ok(Stss { sample_number })
    }
}

/// One `stsc` run: from `first_chunk` (1-based) on, chunks hold `samples_per_chunk` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StscEntry {
    pub(crate) first_chunk: u32,
    pub(crate) samples_per_chunk: u32,
    pub(crate) sample_description_index: u32,
}

/// `stsc`: sample to chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stsc {
    pub(crate) entries: Vec<StscEntry>,
}

impl Atom for Stsc {
    const KIND: FourCC = FourCC(*b"stsc");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        body.full_box()?;
        let count = body.entry_count(12)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(StscEntry {
                first_chunk: body.u32()?,
                samples_per_chunk: body.u32()?,
                sample_description_index: body.u32()?,
            });
        }
        Ok(Stsc { entries })
    }
}

/// `stsz` (or `stz2`, decoded into the same shape): sample sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stsz {
    /// Nonzero when every sample has this size (then `entry_size` is empty).
    pub(crate) sample_size: u32,
    pub(crate) sample_count: u32,
    pub(crate) entry_size: Vec<u32>,
}

impl Atom for Stsz {
    const KIND: FourCC = FourCC(*b"stsz");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        body.full_box()?;
        let sample_size = body.u32()?;
        if sample_size != 0 {
            let sample_count = body.u32()?;
            return Ok(Stsz {
                sample_size,
                sample_count,
                entry_size: Vec::new(),
            });
        }
        let count = body.entry_count(4)?;
        let mut entry_size = Vec::with_capacity(count);
        for _ in 0..count {
            entry_size.push(body.u32()?);
        }
        Ok(Stsz {
            sample_size,
            sample_count: count as u32,
            entry_size,
        })
    }
}

impl Stsz {
    /// The size of sample `index` (0-based), if the table covers it.
    pub(crate) fn size_of(&self, index: u32) -> Option<u32> {
        if index >= self.sample_count {
            None
        } else if self.sample_size != 0 {
            Some(self.sample_size)
        } else {
            self.entry_size.get(index as usize).copied()
        }
    }
}

/// `stz2`: compact sample sizes (4, 8 or 16 bits each).
struct Stz2(Stsz);

impl Atom for Stz2 {
    const KIND: FourCC = FourCC(*b"stz2");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        body.full_box()?;
        let field_size = body.u32()? & 0xff;
        let count = body.u32()? as usize;
        let bytes_needed = match field_size {
            4 => count.div_ceil(2),
            8 => count,
            16 => count.saturating_mul(2),
            _ => return Err(body.error("field_size is not 4, 8 or 16")),
        };
        if bytes_needed > body.remaining() {
            return Err(body.error("sample_count exceeds the box size"));
        }
        let data = body.bytes(bytes_needed)?;
        let entry_size: Vec<u32> = match field_size {
            4 => (0..count)
                .map(|i| {
                    let byte = data[i / 2];
                    u32::from(if i % 2 == 0 { byte >> 4 } else { byte & 0x0f })
                })
                .collect(),
            8 => data.iter().map(|b| u32::from(*b)).collect(),
            _ => data
                .chunks_exact(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .collect(),
        };
        Ok(Stz2(Stsz {
            sample_size: 0,
            sample_count: count as u32,
            entry_size,
        }))
    }
}

/// `stco` (or `co64`, decoded into the same shape): absolute file offset of each chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stco {
    pub(crate) chunk_offset: Vec<u64>,
}

impl Atom for Stco {
    const KIND: FourCC = FourCC(*b"stco");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        body.full_box()?;
        let count = body.entry_count(4)?;
        let mut chunk_offset = Vec::with_capacity(count);
        for _ in 0..count {
            chunk_offset.push(u64::from(body.u32()?));
        }
        Ok(Stco { chunk_offset })
    }
}

/// `co64`: 64-bit chunk offsets.
struct Co64(Stco);

impl Atom for Co64 {
    const KIND: FourCC = FourCC(*b"co64");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        body.full_box()?;
        let count = body.entry_count(8)?;
        let mut chunk_offset = Vec::with_capacity(count);
        for _ in 0..count {
            chunk_offset.push(body.u64()?);
        }
        Ok(Co64(Stco { chunk_offset }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stz2_decodes_4_8_and_16_bit_sizes() {
        let body = |field: u8, count: u32, data: &[u8]| {
            let mut b = vec![0, 0, 0, 0, 0, 0, 0, field];
            b.extend_from_slice(&count.to_be_bytes());
            b.extend_from_slice(data);
            b
        };
        let decode = |b: Vec<u8>| decode_atom::<Stz2>(&b, Strictness::Strict).map(|s| s.0);
        assert_eq!(
            decode(body(4, 3, &[0x12, 0x30])).unwrap().entry_size,
            [1, 2, 3]
        );
        assert_eq!(decode(body(8, 2, &[7, 9])).unwrap().entry_size, [7, 9]);
        assert_eq!(decode(body(16, 1, &[1, 2])).unwrap().entry_size, [0x102]);
        assert!(decode(body(8, 3, &[7, 9])).is_err());
        assert!(decode(body(5, 0, &[])).is_err());
    }

    #[test]
    fn constant_size_stsz_answers_every_index() {
        let stsz = Stsz {
            sample_size: 7,
            sample_count: 3,
            entry_size: vec![],
        };
        assert_eq!(stsz.size_of(2), Some(7));
        assert_eq!(stsz.size_of(3), None);
    }
}
