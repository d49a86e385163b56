//! The top level of an MP4 file: find `moov` among the top-level boxes by reading only their
//! headers and seeking past their bodies, so `mdat` is never read whatever its size or place.

use super::atom::{decode_atom, Atom, FourCC};
use super::moov::Moov;
use super::Mp4ReadOptions;
use crate::media::MediaError;
use std::io::{ErrorKind, Read, Seek, SeekFrom};

/// A file with more top-level boxes than this is not an MP4 we serve.
const MAX_TOP_LEVEL_BOXES: usize = 100_000;

/// The decoded `moov` and the file's size.
pub(crate) struct LocatedMoov {
    pub(crate) moov: Moov,
    pub(crate) file_size: u64,
}

/// Reads the first `moov` box of the file, wherever it is.
pub(crate) fn read_moov(
    source: &mut (impl Read + Seek),
    options: &Mp4ReadOptions,
) -> Result<LocatedMoov, MediaError> {
    let file_size = source.seek(SeekFrom::End(0))?;
    let mut pos = 0u64;
    for _ in 0..MAX_TOP_LEVEL_BOXES {
        if file_size.saturating_sub(pos) < 8 {
            break; // end of file, or a few trailing bytes players ignore
        }
        source.seek(SeekFrom::Start(pos))?;
        let (kind, header_len, size) = read_header(source, file_size - pos)?;
        if kind == Moov::KIND {
            if size > file_size - pos {
                return Err(MediaError::MalformedBox {
                    kind: kind.to_text(),
                    reason: "box runs past the end of the file".into(),
                });
            }
            if size > options.max_moov_size {
                return Err(MediaError::InvalidMp4(format!(
                    "moov box of {size} bytes exceeds the {} byte limit",
                    options.max_moov_size
                )));
            }
            let mut body = vec![0u8; (size - header_len) as usize];
            source.read_exact(&mut body)?;
            let moov = decode_atom(&body, options.strictness)?;
            return Ok(LocatedMoov { moov, file_size });
        }
        pos = pos.saturating_add(size);
    }
    Err(MediaError::InvalidMp4("no moov box".into()))
}

/// Reads one box header at the current position: (type, header length, total size).
/// A size of 0 means "to the end of the file" (`remaining` bytes).
fn read_header(source: &mut impl Read, remaining: u64) -> Result<(FourCC, u64, u64), MediaError> {
    let mut header = [0u8; 8];
    read_exact_or_truncated(source, &mut header)?;
    let kind = FourCC([header[4], header[5], header[6], header[7]]);
    let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let (header_len, size) = match size32 {
        0 => (8, remaining),
        1 => {
            let mut large = [0u8; 8];
            read_exact_or_truncated(source, &mut large)?;
            (16, u64::from_be_bytes(large))
        }
        n => (8, u64::from(n)),
    };
    if size < header_len {
        return Err(MediaError::MalformedBox {
            kind: kind.to_text(),
            reason: "top-level box size is smaller than its header".into(),
        });
    }
    Ok((kind, header_len, size))
}

fn read_exact_or_truncated(source: &mut impl Read, buf: &mut [u8]) -> Result<(), MediaError> {
    source.read_exact(buf).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => MediaError::InvalidMp4("truncated box header".into()),
        _ => MediaError::Io(e),
    })
}
