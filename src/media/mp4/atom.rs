//! Box framing shared by every box struct: four-character codes, headers, and a bounds-checked
//! body cursor.
//!
//! Every read is checked against the body it belongs to, so a box that lies about its size or
//! its entry counts yields [`MediaError::MalformedBox`] rather than a panic or an over-read.
//! Whether a body must be consumed exactly is the caller's [`Strictness`], a runtime option.

use crate::media::MediaError;
use std::fmt;

/// A box type, e.g. `moov`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCC(pub [u8; 4]);

impl FourCC {
    /// The code as text, with non-printable bytes escaped.
    pub fn to_text(self) -> String {
        self.0
            .iter()
            .flat_map(|b| std::ascii::escape_default(*b))
            .map(char::from)
            .collect()
    }
}

impl fmt::Debug for FourCC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_text())
    }
}

impl fmt::Display for FourCC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_text())
    }
}

/// How strictly box bodies are checked.
///
/// Truncation (a read past the end of a body) is always an error; this only decides what to
/// do with bytes a box leaves unread and with repeated boxes that should appear once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strictness {
    /// Trailing bytes in a box body and duplicate single boxes are errors.
    Strict,
    /// Trailing bytes are ignored and the first of duplicate boxes wins (what players do).
    #[default]
    Lenient,
}

/// A box with a fixed type code and a body decoder (mp4-atom's `Atom`, read-only).
pub(crate) trait Atom: Sized {
    /// The box type.
    const KIND: FourCC;
    /// Decodes the body (after the size/type header). Need not consume it all:
    /// [`decode_atom`] checks the remainder according to the strictness.
    fn decode_body(body: &mut Body<'_>, strictness: Strictness) -> Result<Self, MediaError>;
}

/// Decodes one box body and applies the exact-length rule.
pub(crate) fn decode_atom<A: Atom>(body: &[u8], strictness: Strictness) -> Result<A, MediaError> {
    let mut cursor = Body::new(A::KIND, body);
    let atom = A::decode_body(&mut cursor, strictness)?;
    if strictness == Strictness::Strict && cursor.remaining() != 0 {
        return Err(cursor.error("trailing bytes after the box's fields"));
    }
    Ok(atom)
}

/// A bounds-checked big-endian reader over one box body.
pub(crate) struct Body<'a> {
    kind: FourCC,
    data: &'a [u8],
}

impl<'a> Body<'a> {
    /// A cursor over `data`, the body of a box of type `kind`.
    pub(crate) fn new(kind: FourCC, data: &'a [u8]) -> Self {
        Body { kind, data }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len()
    }

    /// A [`MediaError::MalformedBox`] naming this box.
    pub(crate) fn error(&self, reason: &str) -> MediaError {
        MediaError::MalformedBox {
            kind: self.kind.to_text(),
            reason: reason.to_string(),
        }
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], MediaError> {
        if n > self.data.len() {
            return Err(self.error("truncated: a field runs past the end of the box"));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), MediaError> {
        self.bytes(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], MediaError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Result<u8, MediaError> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian u16.
    pub(crate) fn u16(&mut self) -> Result<u16, MediaError> {
        self.array().map(u16::from_be_bytes)
    }

    /// A big-endian u32.
    pub(crate) fn u32(&mut self) -> Result<u32, MediaError> {
        self.array().map(u32::from_be_bytes)
    }

    /// A big-endian u64.
    pub(crate) fn u64(&mut self) -> Result<u64, MediaError> {
        self.array().map(u64::from_be_bytes)
    }

    /// A four-character code.
    pub(crate) fn fourcc(&mut self) -> Result<FourCC, MediaError> {
        self.array().map(FourCC)
    }

    /// The full-box header: (version, flags).
    pub(crate) fn full_box(&mut self) -> Result<(u8, u32), MediaError> {
        let word = self.u32()?;
        Ok(((word >> 24) as u8, word & 0x00ff_ffff))
    }

    /// A version-dependent time field: u32 for version 0, u64 for version 1.
    pub(crate) fn time(&mut self, version: u8) -> Result<u64, MediaError> {
        match version {
            0 => self.u32().map(u64::from),
            1 => self.u64(),
            _ => Err(self.error("unsupported version")),
        }
    }

    /// Reads an entry count and checks that `count` entries of `entry_size` bytes fit in the
    /// rest of the body, so a lying count cannot make us allocate or loop beyond the box.
    pub(crate) fn entry_count(&mut self, entry_size: usize) -> Result<usize, MediaError> {
        let count = self.u32()? as usize;
        match count.checked_mul(entry_size) {
            Some(bytes) if bytes <= self.remaining() => Ok(count),
            _ => Err(self.error("entry_count exceeds the box size")),
        }
    }

    /// The child boxes of a container body, in order.
    pub(crate) fn children(&mut self) -> Children<'a> {
        Children {
            parent: self.kind,
            data: self.rest(),
        }
    }
}

/// Iterator over the child boxes of a container: yields `(type, body)` pairs.
pub(crate) struct Children<'a> {
    parent: FourCC,
    data: &'a [u8],
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<(FourCC, &'a [u8]), MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let result = split_box(self.data);
        match result {
            Ok((kind, body, rest)) => {
                self.data = rest;
                Some(Ok((kind, body)))
            }
            Err(reason) => {
                self.data = &[];
                Some(Err(MediaError::MalformedBox {
                    kind: self.parent.to_text(),
                    reason: reason.to_string(),
                }))
            }
        }
    }
}

/// Splits the first box off `data`: (type, body, rest).
fn split_box(data: &[u8]) -> Result<(FourCC, &[u8], &[u8]), &'static str> {
    if data.len() < 8 {
        return Err("truncated child box header");
    }
    let size32 = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let kind = FourCC([data[4], data[5], data[6], data[7]]);
    let (size, header) = match size32 {
        0 => (data.len() as u64, 8),
        1 => {
            if data.len() < 16 {
                return Err("truncated child box largesize");
            }
            let mut large = [0u8; 8];
            large.copy_from_slice(&data[8..16]);
            (u64::from_be_bytes(large), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header as u64 || size > data.len() as u64 {
        return Err("child box size is smaller than its header or larger than its parent");
    }
    let size = size as usize;
    Ok((kind, &data[header..size], &data[size..]))
}

/// Keeps the first of repeated boxes, or refuses the repeat when strict.
pub(crate) fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    parent: FourCC,
    child: FourCC,
    strictness: Strictness,
) -> Result<(), MediaError> {
    if slot.is_none() {
        *slot = Some(value);
        Ok(())
    } else if strictness == Strictness::Strict {
        Err(MediaError::MalformedBox {
            kind: parent.to_text(),
            reason: format!("more than one {child} box"),
        })
    } else {
        Ok(())
    }
}

/// The error for a required child box that is absent.
pub(crate) fn missing(parent: FourCC, child: FourCC) -> MediaError {
    MediaError::MalformedBox {
        kind: parent.to_text(),
        reason: format!("required {child} box is missing"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_count_beyond_box_is_refused() {
        let data = [0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2];
        let mut body = Body::new(FourCC(*b"stss"), &data);
        assert!(matches!(
            body.entry_count(4),
            Err(MediaError::MalformedBox { .. })
        ));
    }

    #[test]
    fn children_stop_at_a_lying_size() {
        let data = [0, 0, 0, 50, b'f', b'r', b'e', b'e', 0, 0];
        let mut body = Body::new(FourCC(*b"moov"), &data);
        let kids: Vec<_> = body.children().collect();
        assert_eq!(kids.len(), 1);
        assert!(kids[0].is_err());
    }

    #[test]
    fn strict_refuses_trailing_bytes_lenient_ignores_them() {
        struct One(u8);
        impl Atom for One {
            const KIND: FourCC = FourCC(*b"one ");
            fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
                Ok(One(body.u8()?))
            }
        }
        assert!(decode_atom::<One>(&[7, 8], Strictness::Strict).is_err());
        assert_eq!(
            decode_atom::<One>(&[7, 8], Strictness::Lenient).unwrap().0,
            7
        );
        assert!(decode_atom::<One>(&[], Strictness::Lenient).is_err());
    }
}
