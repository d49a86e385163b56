//! `moov` and its movie header: the metadata half of an MP4, decoded after the file reader
//! has located it (and skipped `mdat`, which is never read).

pub(crate) mod trak;

use super::atom::{decode_atom, missing, set_once, Atom, Body, FourCC, Strictness};
use crate::media::MediaError;
use trak::Trak;

/// `moov`: the movie box. Children: `mvhd` required, `trak` multiple; others (`udta`,
/// `meta`, `mvex`, ...) are skipped unread.
#[derive(Debug, Clone)]
pub(crate) struct Moov {
    pub(crate) mvhd: Mvhd,
    pub(crate) trak: Vec<Trak>,
}

impl Atom for Moov {
    const KIND: FourCC = FourCC(*b"moov");

    fn decode_body(body: &mut Body<'_>, strictness: Strictness) -> Result<Self, MediaError> {
        let mut mvhd = None;
        let mut trak = Vec::new();
        for child in body.children() {
            let (kind, data) = child?;
            match kind {
                Mvhd::KIND => {
                    let value = decode_atom(data, strictness)?;
                    set_once(&mut mvhd, value, Self::KIND, kind, strictness)?;
                }
                Trak::KIND => trak.push(decode_atom(data, strictness)?),
                _ => {}
            }
        }
        Ok(Moov {
            mvhd: mvhd.ok_or_else(|| missing(Self::KIND, Mvhd::KIND))?,
            trak,
        })
    }
}

/// `mvhd`: the movie header; only the time fields are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mvhd {
    pub(crate) timescale: u32,
    pub(crate) duration: u64,
}

impl Atom for Mvhd {
    const KIND: FourCC = FourCC(*b"mvhd");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        let (version, _flags) = body.full_box()?;
        let _creation_time = body.time(version)?;
        let _modification_time = body.time(version)?;
        let timescale = body.u32()?;
        let duration = body.time(version)?;
        // rate, volume, reserved, matrix, pre_defined, next_track_ID: 80 bytes.
        body.skip(4 + 2 + 2 + 8 + 36 + 24 + 4)?;
        Ok(Mvhd {
            timescale,
            duration,
        })
    }
}

/// A box duration in seconds, or `None` when the timescale is zero or the duration unknown
/// (all ones, as fragmented files write it).
pub(crate) fn seconds(duration: u64, timescale: u32) -> Option<f64> {
    if timescale == 0 || duration == 0 || duration == u64::MAX || duration == u64::from(u32::MAX) {
        return None;
    }
    Some(duration as f64 / f64::from(timescale))
}
