//! `trak` and the boxes between it and the sample tables: track header, edit list, media
//! header, handler and media information.

pub(crate) mod stbl;

use super::super::atom::{decode_atom, missing, set_once, Atom, Body, FourCC, Strictness};
use crate::media::MediaError;
use stbl::Stbl;

/// `trak`: one track. Children: `tkhd` and `mdia` required, `edts` optional.
#[derive(Debug, Clone)]
pub(crate) struct Trak {
    pub(crate) tkhd: Tkhd,
    pub(crate) edts: Option<Edts>,
    pub(crate) mdia: Mdia,
}

impl Atom for Trak {
    const KIND: FourCC = FourCC(*b"trak");

    fn decode_body(body: &mut Body<'_>, strictness: Strictness) -> Result<Self, MediaError> {
        let (mut tkhd, mut edts, mut mdia) = (None, None, None);
        for child in body.children() {
            let (kind, data) = child?;
            match kind {
                Tkhd::KIND => {
                    let value = decode_atom(data, strictness)?;
                    set_once(&mut tkhd, value, Self::KIND, kind, strictness)?;
                }
                Edts::KIND => {
                    let value = decode_atom(data, strictness)?;
                    set_once(&mut edts, value, Self::KIND, kind, strictness)?;
                }
                Mdia::KIND => {
                    let value = decode_atom(data, strictness)?;
                    set_once(&mut mdia, value, Self::KIND, kind, strictness)?;
                }
                _ => {}
            }
        }
        Ok(Trak {
            tkhd: tkhd.ok_or_else(|| missing(Self::KIND, Tkhd::KIND))?,
            edts,
            mdia: mdia.ok_or_else(|| missing(Self::KIND, Mdia::KIND))?,
        })
    }
}

/// `tkhd`: the track header; only the presentation size (16.16 fixed point) is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tkhd {
    pub(crate) track_id: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl Atom for Tkhd {
    const KIND: FourCC = FourCC(*b"tkhd");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        let (version, _flags) = body.full_box()?;
        let _creation_time = body.time(version)?;
        let _modification_time = body.time(version)?;
        let track_id = body.u32()?;
        let _reserved = body.u32()?;
        let _duration = body.time(version)?;
        // reserved, layer, alternate_group, volume, reserved, matrix.
        body.skip(8 + 2 + 2 + 2 + 2 + 36)?;
        let width = body.u32()? >> 16;
        let height = body.u32()? >> 16;
        Ok(Tkhd {
            track_id,
            width,
            height,
        })
    }
}

/// `edts`: the edit container; only its `elst` is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edts {
    pub(crate) elst: Option<Elst>,
}

impl Atom for Edts {
    const KIND: FourCC = FourCC(*b"edts");

    fn decode_body(body: &mut Body<'_>, strictness: Strictness) -> Result<Self, MediaError> {
        let mut elst = None;
        for child in body.children() {
            let (kind, data) = child?;
            if kind == Elst::KIND {
                let value = decode_atom(data, strictness)?;
                set_once(&mut elst, value, Self::KIND, kind, strictness)?;
            }
        }
        Ok(Edts { elst })
    }
}

/// One `elst` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EditEntry {
    /// In movie (`mvhd`) timescale units.
    pub(crate) segment_duration: u64,
    /// In media (`mdhd`) timescale units; -1 for an empty edit.
    pub(crate) media_time: i64,
}

/// `elst`: the edit list, mapping media time onto the movie's presentation timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Elst {
    pub(crate) entries: Vec<EditEntry>,
}

impl Atom for Elst {
    const KIND: FourCC = FourCC(*b"elst");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        let (version, _flags) = body.full_box()?;
        let entry_size = if version == 1 { 20 } else { 12 };
        let count = body.entry_count(entry_size)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let (segment_duration, media_time) = if version == 1 {
                (body.u64()?, body.u64()? as i64)
            } else {
                (u64::from(body.u32()?), i64::from(body.u32()? as i32))
            };
            let _media_rate = body.u32()?;
            entries.push(EditEntry {
                segment_duration,
                media_time,
            });
        }
        Ok(Elst { entries })
    }
}

impl Elst {
    /// How much to add to a media time (composition time, media timescale) to place it on the
    /// presentation timeline: leading empty edits delay it, the first edit's `media_time` is
    /// where presentation starts. Only the first non-empty edit is honoured.
    pub(crate) fn presentation_shift(&self, movie_timescale: u32, media_timescale: u32) -> f64 {
        let mut delay = 0.0;
        for entry in &self.entries {
            if entry.media_time == -1 {
                if movie_timescale > 0 {
                    delay += entry.segment_duration as f64 / f64::from(movie_timescale);
                }
            } else {
                let start = if media_timescale > 0 {
                    entry.media_time as f64 / f64::from(media_timescale)
                } else {
                    0.0
                };
                return delay - start;
            }
        }
        delay
    }
}

/// `mdia`: the media box. Children: `mdhd`, `hdlr` and `minf` required.
#[derive(Debug, Clone)]
pub(crate) struct Mdia {
    pub(crate) mdhd: Mdhd,
    pub(crate) hdlr: Hdlr,
    pub(crate) minf: Minf,
}

impl Atom for Mdia {
    const KIND: FourCC = FourCC(*b"mdia");

    fn decode_body(body: &mut Body<'_>, strictness: Strictness) -> Result<Self, MediaError> {
        let (mut mdhd, mut hdlr, mut minf) = (None, None, None);
        for child in body.children() {
            let (kind, data) = child?;
            match kind {
                Mdhd::KIND => {
                    let value = decode_atom(data, strictness)?;
                    set_once(&mut mdhd, value, Self::KIND, kind, strictness)?;
                }
                Hdlr::KIND => {
                    let value = decode_atom(data, strictness)?;
                    set_once(&mut hdlr, value, Self::KIND, kind, strictness)?;
                }
                Minf::KIND => {
                    let value = decode_atom(data, strictness)?;
                    set_once(&mut minf, value, Self::KIND, kind, strictness)?;
                }
                _ => {}
            }
        }
        Ok(Mdia {
            mdhd: mdhd.ok_or_else(|| missing(Self::KIND, Mdhd::KIND))?,
            hdlr: hdlr.ok_or_else(|| missing(Self::KIND, Hdlr::KIND))?,
            minf: minf.ok_or_else(|| missing(Self::KIND, Minf::KIND))?,
        })
    }
}

/// `mdhd`: the media header: the track's timescale and duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mdhd {
    pub(crate) timescale: u32,
    pub(crate) duration: u64,
}

impl Atom for Mdhd {
    const KIND: FourCC = FourCC(*b"mdhd");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        let (version, _flags) = body.full_box()?;
        let _creation_time = body.time(version)?;
        let _modification_time = body.time(version)?;
        let timescale = body.u32()?;
        let duration = body.time(version)?;
        let _language_and_pre_defined = body.u32()?;
        Ok(Mdhd {
            timescale,
            duration,
        })
    }
}

/// `hdlr`: the handler: `vide`, `soun`, ... The name string is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hdlr {
    pub(crate) handler_type: FourCC,
}

impl Hdlr {
    /// Video track handler.
    pub(crate) const VIDEO: FourCC = FourCC(*b"vide");
    /// Audio track handler.
    pub(crate) const AUDIO: FourCC = FourCC(*b"soun");
}

impl Atom for Hdlr {
    const KIND: FourCC = FourCC(*b"hdlr");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        let (_version, _flags) = body.full_box()?;
        let _pre_defined = body.u32()?;
        let handler_type = body.fourcc()?;
        body.skip(12)?;
        // The name is a NUL-terminated (ISO) or Pascal (QuickTime) string: free text.
        let _name = body.rest();
        Ok(Hdlr { handler_type })
    }
}

/// `minf`: the media information. Children: `stbl` required; `vmhd`, `smhd`, `dinf` skipped.
#[derive(Debug, Clone)]
pub(crate) struct Minf {
    pub(crate) stbl: Stbl,
}

impl Atom for Minf {
    const KIND: FourCC = FourCC(*b"minf");

    fn decode_body(body: &mut Body<'_>, strictness: Strictness) -> Result<Self, MediaError> {
        let mut stbl = None;
        for child in body.children() {
            let (kind, data) = child?;
            if kind == Stbl::KIND {
                let value = decode_atom(data, strictness)?;
                set_once(&mut stbl, value, Self::KIND, kind, strictness)?;
            }
        }
        Ok(Minf {
            stbl: stbl.ok_or_else(|| missing(Self::KIND, Stbl::KIND))?,
        })
    }
}
