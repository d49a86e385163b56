//! Reading one planned segment's bytes from the file.

use super::PlannedSegment;
use crate::media::MediaError;
use std::io::{Read, Seek, SeekFrom};

/// Reads `seg`'s bytes from `source` into `buf` (replacing its contents).
///
/// # Errors
/// [`MediaError::Io`] when seeking or reading fails, e.g. `UnexpectedEof` when the file
/// has shrunk since the plan was built.
pub fn read_segment(
    source: &mut (impl Read + Seek),
    seg: &PlannedSegment,
    buf: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let len = usize::try_from(seg.len).map_err(|_| std::io::Error::other("segment too large"))?;
    source.seek(SeekFrom::Start(seg.offset))?;
    buf.clear();
    buf.resize(len, 0);
    source.read_exact(buf)?;
    Ok(())
}

/// Reads planned segments from one source, reusing one buffer and skipping needless seeks.
///
/// The buffer grows to the largest segment read and is never zeroed again, so reading a
/// run of equal fixed-size chunks costs one `read` per chunk.
#[derive(Debug)]
pub struct SegmentReader<R> {
    source: R,
    buf: Vec<u8>,
    /// Where `source` is positioned, when known.
    position: Option<u64>,
}

impl<R: Read + Seek> SegmentReader<R> {
    /// Reads from `source`, whatever its current position.
    pub fn new(source: R) -> Self {
        SegmentReader {
            source,
            buf: Vec::new(),
            position: None,
        }
    }

    /// The bytes of `seg`, valid until the next call.
    ///
    /// # Errors
    /// [`MediaError::Io`] when seeking or reading fails (`UnexpectedEof` if the file shrank).
    pub fn read(&mut self, seg: &PlannedSegment) -> Result<&[u8], MediaError> {
        let len =
            usize::try_from(seg.len).map_err(|_| std::io::Error::other("segment too large"))?;
        if self.position != Some(seg.offset) {
            self.position = None;
            self.source.seek(SeekFrom::Start(seg.offset))?;
        }
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        if let Err(e) = self.source.read_exact(&mut self.buf[..len]) {
            self.position = None;
            return Err(e.into());
        }
        self.position = Some(seg.offset + seg.len);
        Ok(&self.buf[..len])
    }

    /// Gives the source back.
    pub fn into_inner(self) -> R {
        self.source
    }
}
