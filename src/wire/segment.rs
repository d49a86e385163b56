//! Segment streams: the video and audio headers, optional extended metadata, the data.
//!
//! Each segment travels on its own unidirectional stream: header, metadata when flagged,
//! data, then the stream is finished (profile section 2). The first byte of a stream tells
//! what it carries ([`classify_stream`](super::classify_stream)). [`SegmentHeader::decode_maybe`] reads a header
//! from a growing buffer and consumes nothing until the header (and its metadata) is whole,
//! so a receiver can parse as bytes arrive and then copy the data straight to disk.
//!
//! Framing errors of segments map to 1005 SegmentCorrupted.

use bytes::{Buf, BufMut, Bytes};

use super::error::{AUDIO_SEGMENT, VIDEO_SEGMENT};
use super::{classify_stream, SegmentFlags, SegmentId, StreamKind, WireError};

/// The default bound on what a receiver reads from one stream: 16 MiB (profile section 2).
pub const DEFAULT_MAX_STREAM_LEN: u64 = 16 * 1024 * 1024;

/// A video segment header and its optional extended metadata.
///
/// # Format
/// ```text
///  0    1          17          25          33            37    38         42
/// +----+----------+-----------+-----------+-------------+-----+----------+
/// | 01 | id (16)  | timestamp | duration  | frame_count |flags| data len |
/// +----+----------+-----------+-----------+-------------+-----+----------+
///                   f64 BE s    f64 BE s    u32 BE              u32 BE
/// when flags & 0x80:  | meta len u16 BE | metadata JSON (meta len bytes) |
/// then:               | data (data len bytes)                            |
/// ```
/// `data len` counts the media data only, not the metadata block (docs/protocol.md).
/// [`SegmentHeader::encode`] sets bit 0x80 exactly when `metadata` is Some.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoHeader {
    /// The segment's id.
    pub id: SegmentId,
    /// Seconds from the start of the file (finite, >= 0).
    pub timestamp: f64,
    /// Seconds (finite, >= 0).
    pub duration: f64,
    /// Access units in the segment (0 for fixed-size segments).
    pub frame_count: u32,
    /// Flag bits.
    pub flags: SegmentFlags,
    /// Bytes of media data after the header (and metadata).
    pub data_length: u32,
    /// Extended metadata (JSON bytes, at most 65535), present when flag 0x80 is set.
    pub metadata: Option<Vec<u8>>,
}

/// An audio segment header.
///
/// # Format
/// ```text
///  0    1          17          25          33            37         39         43
/// +----+----------+-----------+-----------+-------------+----------+----------+
/// | 02 | id (16)  | timestamp | duration  | sample_rate | channels | data len |
/// +----+----------+-----------+-----------+-------------+----------+----------+
///                   f64 BE s    f64 BE s    u32 BE Hz     u16 BE     u32 BE
/// then: | data (data len bytes) |
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AudioHeader {
    /// The segment's id.
    pub id: SegmentId,
    /// Seconds from the start of the file (finite, >= 0).
    pub timestamp: f64,
    /// Seconds (finite, >= 0).
    pub duration: f64,
    /// Samples per second.
    pub sample_rate: u32,
    /// 1 mono, 2 stereo, ...
    pub channels: u16,
    /// Bytes of audio data after the header.
    pub data_length: u32,
}

impl VideoHeader {
    /// The stream type byte.
    pub const TYPE: u8 = 0x01;
    /// Bytes of the fixed header.
    pub const LEN: usize = 42;
}

impl AudioHeader {
    /// The stream type byte.
    pub const TYPE: u8 = 0x02;
    /// Bytes of the fixed header.
    pub const LEN: usize = 43;
}

/// A segment header of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentHeader {
    /// Type 0x01.
    Video(VideoHeader),
    /// Type 0x02.
    Audio(AudioHeader),
}

pub(crate) fn corrupted(kind: &'static str, reason: impl Into<String>) -> WireError {
    WireError::CorruptedSegment {
        kind,
        reason: reason.into(),
    }
}

fn check_time(kind: &'static str, field: &str, v: f64) -> Result<(), WireError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(corrupted(
            kind,
            format!("{field} {v} is not a finite number >= 0"),
        ))
    }
}

impl SegmentHeader {
    /// The segment's id.
    pub fn id(&self) -> SegmentId {
        match self {
            SegmentHeader::Video(h) => h.id,
            SegmentHeader::Audio(h) => h.id,
        }
    }
    /// Seconds from the start of the file.
    pub fn timestamp(&self) -> f64 {
        match self {
            SegmentHeader::Video(h) => h.timestamp,
            SegmentHeader::Audio(h) => h.timestamp,
        }
    }
    /// Seconds.
    pub fn duration(&self) -> f64 {
        match self {
            SegmentHeader::Video(h) => h.duration,
            SegmentHeader::Audio(h) => h.duration,
        }
    }
    /// Bytes of data that follow the header (and metadata).
    pub fn data_length(&self) -> u32 {
        match self {
            SegmentHeader::Video(h) => h.data_length,
            SegmentHeader::Audio(h) => h.data_length,
        }
    }
    /// Flag bits (audio segments have none: empty).
    pub fn flags(&self) -> SegmentFlags {
        match self {
            SegmentHeader::Video(h) => h.flags,
            SegmentHeader::Audio(_) => SegmentFlags::empty(),
        }
    }
    /// True when flag 0x10 marks the transfer's last segment.
    pub fn is_last(&self) -> bool {
        self.flags().contains(SegmentFlags::END_OF_TRANSFER)
    }

    /// Bytes of the header as encoded, metadata block included.
    pub fn encoded_len(&self) -> usize {
        match self {
            SegmentHeader::Video(h) => {
                VideoHeader::LEN + h.metadata.as_ref().map_or(0, |m| 2 + m.len())
            }
            SegmentHeader::Audio(_) => AudioHeader::LEN,
        }
    }

    /// Bytes of the whole stream: header, metadata and data.
    pub fn stream_len(&self) -> u64 {
        self.encoded_len() as u64 + u64::from(self.data_length())
    }

    /// `Ok` when the whole stream (header, metadata, data) fits in `limit` bytes, else
    /// 1006 StreamTooLong: the receiver stops the stream (profile section 2).
    pub fn check_bound(&self, limit: u64) -> Result<(), WireError> {
        if self.stream_len() <= limit {
            Ok(())
        } else {
            Err(WireError::StreamTooLong {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            })
        }
    }

    /// Writes the header (and the metadata block). Metadata longer than 65535 bytes is
    /// refused by [`Segment::video`]; here it would be cut to 65535 bytes.
    pub fn encode(&self, buf: &mut impl BufMut) {
        match self {
            SegmentHeader::Video(h) => {
                buf.put_u8(VideoHeader::TYPE);
                buf.put_slice(&h.id.to_bytes());
                buf.put_f64(h.timestamp);
                buf.put_f64(h.duration);
                buf.put_u32(h.frame_count);
                let mut flags = h.flags;
                flags.set(SegmentFlags::EXTENDED_METADATA, h.metadata.is_some());
                buf.put_u8(flags.bits());
                buf.put_u32(h.data_length);
                if let Some(m) = &h.metadata {
                    let len = m.len().min(usize::from(u16::MAX));
                    buf.put_u16(len as u16);
                    buf.put_slice(&m[..len]);
                }
            }
            SegmentHeader::Audio(h) => {
                buf.put_u8(AudioHeader::TYPE);
                buf.put_slice(&h.id.to_bytes());
                buf.put_f64(h.timestamp);
                buf.put_f64(h.duration);
                buf.put_u32(h.sample_rate);
                buf.put_u16(h.channels);
                buf.put_u32(h.data_length);
            }
        }
    }

    /// Reads a header from the start of `input` if it is all there.
    ///
    /// # Returns
    /// `Ok(None)` while `input` holds less than the header (and its metadata block);
    /// `Ok(Some((header, consumed)))` once it is whole, `consumed` being the bytes it took;
    /// an error when the first byte is not 0x01/0x02 (400) or a field is impossible (1005).
    pub fn decode_maybe(input: &[u8]) -> Result<Option<(SegmentHeader, usize)>, WireError> {
        let Some(&first) = input.first() else {
            return Ok(None);
        };
        let kind = match classify_stream(first)? {
            StreamKind::VideoSegment => VIDEO_SEGMENT,
            StreamKind::AudioSegment => AUDIO_SEGMENT,
            StreamKind::JsonEnvelope => return Err(WireError::UnknownStreamType(first)),
        };
        let fixed = if first == VideoHeader::TYPE {
            VideoHeader::LEN
        } else {
            AudioHeader::LEN
        };
        if input.len() < fixed {
            return Ok(None);
        }
        let mut b = &input[1..fixed];
        let mut id = [0u8; 16];
        b.copy_to_slice(&mut id);
        let id = SegmentId::from_uuid(uuid::Uuid::from_bytes(id));
        let timestamp = b.get_f64();
        let duration = b.get_f64();
        check_time(kind, "timestamp", timestamp)?;
        check_time(kind, "duration", duration)?;
        if first == AudioHeader::TYPE {
            let header = AudioHeader {
                id,
                timestamp,
                duration,
                sample_rate: b.get_u32(),
                channels: b.get_u16(),
                data_length: b.get_u32(),
            };
            return Ok(Some((SegmentHeader::Audio(header), fixed)));
        }
        let frame_count = b.get_u32();
        let flags = SegmentFlags(b.get_u8());
        let data_length = b.get_u32();
        let mut consumed = fixed;
        let metadata = if flags.contains(SegmentFlags::EXTENDED_METADATA) {
            let Some(len_bytes) = input.get(fixed..fixed + 2) else {
                return Ok(None);
            };
            let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
            let Some(meta) = input.get(fixed + 2..fixed + 2 + len) else {
                return Ok(None);
            };
            if serde_json::from_slice::<serde::de::IgnoredAny>(meta).is_err() {
                return Err(corrupted(kind, "extended metadata is not JSON"));
            }
            consumed = fixed + 2 + len;
            Some(meta.to_vec())
        } else {
            None
        };
        let header = VideoHeader {
            id,
            timestamp,
            duration,
            frame_count,
            flags,
            data_length,
            metadata,
        };
        Ok(Some((SegmentHeader::Video(header), consumed)))
    }
}

/// A whole segment stream: header (with metadata) and data.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    header: SegmentHeader,
    data: Bytes,
}

impl Segment {
    /// A video segment; its `data_length` and flag 0x80 are set from `data` and `metadata`.
    ///
    /// Fails with `TooLong` when data exceeds `u32::MAX` bytes or metadata 65535 bytes.
    pub fn video(mut header: VideoHeader, data: Bytes) -> Result<Segment, WireError> {
        if let Some(m) = &header.metadata {
            if m.len() > usize::from(u16::MAX) {
                return Err(WireError::TooLong {
                    kind: VIDEO_SEGMENT,
                    len: m.len(),
                    max: usize::from(u16::MAX),
                });
            }
        }
        header.data_length = data_len(VIDEO_SEGMENT, &data)?;
        let meta = header.metadata.is_some();
        header.flags.set(SegmentFlags::EXTENDED_METADATA, meta);
        Ok(Segment {
            header: SegmentHeader::Video(header),
            data,
        })
    }

    /// An audio segment; its `data_length` is set from `data`.
    pub fn audio(mut header: AudioHeader, data: Bytes) -> Result<Segment, WireError> {
        header.data_length = data_len(AUDIO_SEGMENT, &data)?;
        Ok(Segment {
            header: SegmentHeader::Audio(header),
            data,
        })
    }

    /// The header.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }
    /// The data.
    pub fn data(&self) -> &Bytes {
        &self.data
    }
    /// Header and data.
    pub fn into_parts(self) -> (SegmentHeader, Bytes) {
        (self.header, self.data)
    }

    /// Writes the header, metadata and data.
    pub fn encode(&self, buf: &mut impl BufMut) {
        self.header.encode(buf);
        buf.put_slice(&self.data);
    }

    /// The whole stream as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.header.encoded_len() + self.data.len());
        self.encode(&mut v);
        v
    }

    /// Reads a whole finished stream: exactly one header, its metadata and `data len`
    /// bytes. Too few bytes or too many are 1005 (`Truncated` / `Trailing`).
    pub fn decode(stream: &[u8]) -> Result<Segment, WireError> {
        let kind = match stream.first() {
            Some(&AudioHeader::TYPE) => AUDIO_SEGMENT,
            _ => VIDEO_SEGMENT,
        };
        let Some((header, consumed)) = SegmentHeader::decode_maybe(stream)? else {
            return Err(WireError::Truncated {
                kind,
                needed: if kind == AUDIO_SEGMENT {
                    AudioHeader::LEN
                } else {
                    VideoHeader::LEN
                },
                available: stream.len(),
            });
        };
        let rest = stream.get(consumed..).unwrap_or_default();
        let want = header.data_length() as usize;
        if rest.len() < want {
            return Err(WireError::Truncated {
                kind,
                needed: consumed.saturating_add(want),
                available: stream.len(),
            });
        }
        if rest.len() > want {
            return Err(WireError::Trailing {
                kind,
                extra: rest.len() - want,
            });
        }
        Ok(Segment {
            header,
            data: Bytes::copy_from_slice(rest),
        })
    }
}

fn data_len(kind: &'static str, data: &[u8]) -> Result<u32, WireError> {
    u32::try_from(data.len()).map_err(|_| WireError::TooLong {
        kind,
        len: data.len(),
        max: u32::MAX as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TransferId;

    fn video(meta: Option<Vec<u8>>, data: &'static [u8]) -> Segment {
        let id = SegmentId::new(TransferId::new(7).unwrap(), 3);
        let h = VideoHeader {
            id,
            timestamp: 0.12,
            duration: 0.04,
            frame_count: 1,
            flags: SegmentFlags::KEYFRAME | SegmentFlags::IDR,
            data_length: 0,
            metadata: meta,
        };
        Segment::video(h, Bytes::from_static(data)).unwrap()
    }

    #[test]
    fn header_lengths_are_42_and_43() {
        let v = video(None, b"abc");
        assert_eq!(v.to_bytes().len(), 42 + 3);
        let a = Segment::audio(
            AudioHeader {
                id: SegmentId::new(TransferId::new(7).unwrap(), 4),
                timestamp: 0.0,
                duration: 0.0213,
                sample_rate: 48000,
                channels: 2,
                data_length: 0,
            },
            Bytes::from_static(b"xy"),
        )
        .unwrap();
        assert_eq!(a.to_bytes().len(), 43 + 2);
        assert_eq!(Segment::decode(&a.to_bytes()).unwrap(), a);
    }

    #[test]
    fn decode_maybe_consumes_nothing_until_whole_at_every_split() {
        let s = video(Some(br#"{"codec":"h264"}"#.to_vec()), b"data");
        let bytes = s.to_bytes();
        let header_len = s.header().encoded_len();
        for cut in 0..bytes.len() {
            let got = SegmentHeader::decode_maybe(&bytes[..cut]).unwrap();
            if cut < header_len {
                assert!(got.is_none(), "cut {cut}");
            } else {
                assert_eq!(got, Some((s.header().clone(), header_len)));
            }
        }
        assert_eq!(Segment::decode(&bytes).unwrap(), s);
    }

    #[test]
    fn framing_errors_are_1005_and_bad_first_byte_400() {
        let bytes = video(None, b"data").to_bytes();
        let short = Segment::decode(&bytes[..bytes.len() - 1]).unwrap_err();
        assert_eq!(short.status_code(), 1005);
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Segment::decode(&long).unwrap_err().status_code(), 1005);
        assert_eq!(Segment::decode(&[0x03]).unwrap_err().status_code(), 400);
        assert_eq!(classify_stream(b'{'), Ok(StreamKind::JsonEnvelope));
    }
}
