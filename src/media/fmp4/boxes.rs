//! The boxes of a fragmented MP4 with one H.264 video track, written into a `Vec<u8>`.
//!
//! Only what a fragmented file needs: the init segment (`ftyp`, `moov` with empty sample
//! tables and `mvex/trex`) and one fragment (`moof` with `mfhd`, `traf/tfhd/tfdt/trun`, then
//! `mdat`). Field layouts follow ISO/IEC 14496-12 (boxes) and 14496-15 (`avcC`).

/// The media timescale: 90 kHz, in which the usual frame rates (24, 25, 30, 50, 60 and the
/// NTSC ones, 3003 ticks at 30000/1001) have whole-tick frame durations.
pub(crate) const TIMESCALE: u32 = 90_000;
/// The only track's ID.
const TRACK_ID: u32 = 1;
/// `sample_flags` of a sync sample: depends on no other sample.
const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `sample_flags` of another sample: depends on others, not a sync sample.
const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;
/// The identity transform of `mvhd` and `tkhd`.
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Starts a box: writes a placeholder size and the type; returns where it starts.
fn open(buf: &mut Vec<u8>, kind: &[u8; 4]) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(kind);
    start
}

/// Starts a full box (version and flags after the type).
fn open_full(buf: &mut Vec<u8>, kind: &[u8; 4], version: u8, flags: u32) -> usize {
    let start = open(buf, kind);
    buf.push(version);
    buf.extend_from_slice(&flags.to_be_bytes()[1..]);
    start
}

/// Ends the box opened at `start`: writes its size.
fn close(buf: &mut [u8], start: usize) {
    let size = u32::try_from(buf.len() - start).unwrap_or(u32::MAX);
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

fn u16s(buf: &mut Vec<u8>, values: &[u16]) {
    for v in values {
        buf.extend_from_slice(&v.to_be_bytes());
    }
}

fn u32s(buf: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        buf.extend_from_slice(&v.to_be_bytes());
    }
}

/// What the init segment says about the video track.
#[derive(Debug, Clone)]
pub(crate) struct VideoTrack {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// The first SPS NAL unit, as in the stream (header byte first, emulation prevention kept).
    pub(crate) sps: Vec<u8>,
    /// The first PPS NAL unit.
    pub(crate) pps: Vec<u8>,
    /// `chroma_format_idc`, luma and chroma bit depths (for the High profiles' `avcC` tail).
    pub(crate) chroma_format_idc: u8,
    pub(crate) bit_depth_luma: u8,
    pub(crate) bit_depth_chroma: u8,
}

/// `ftyp` and `moov` of a fragmented file with one H.264 track.
pub(crate) fn init_segment(track: &VideoTrack) -> Vec<u8> {
    let mut buf = Vec::with_capacity(1024);
    let ftyp = open(&mut buf, b"ftyp");
    buf.extend_from_slice(b"iso5");
    u32s(&mut buf, &[0x200]);
    for brand in [b"iso5", b"iso6", b"avc1", b"mp41"] {
        buf.extend_from_slice(brand);
    }
    close(&mut buf, ftyp);
    let moov = open(&mut buf, b"moov");
    mvhd(&mut buf);
    trak(&mut buf, track);
    let mvex = open(&mut buf, b"mvex");
    let trex = open_full(&mut buf, b"trex", 0, 0);
    u32s(&mut buf, &[TRACK_ID, 1, 0, 0, 0]);
    close(&mut buf, trex);
    close(&mut buf, mvex);
    close(&mut buf, moov);
    buf
}

fn mvhd(buf: &mut Vec<u8>) {
    let mvhd = open_full(buf, b"mvhd", 0, 0);
    // creation, modification, timescale (ms), duration (unknown: fragments follow)
    u32s(buf, &[0, 0, 1000, 0, 0x0001_0000]);
    u16s(buf, &[0x0100, 0]);
    u32s(buf, &[0, 0]);
    u32s(buf, &MATRIX);
    u32s(buf, &[0; 6]);
    u32s(buf, &[TRACK_ID + 1]);
    close(buf, mvhd);
}

fn trak(buf: &mut Vec<u8>, track: &VideoTrack) {
    let trak = open(buf, b"trak");
    let tkhd = open_full(buf, b"tkhd", 0, 0x3); // enabled, in movie
    u32s(buf, &[0, 0, TRACK_ID, 0, 0, 0, 0]);
    u16s(buf, &[0, 0, 0, 0]); // layer, alternate group, volume, reserved
    u32s(buf, &MATRIX);
    u32s(buf, &[track.width << 16, track.height << 16]);
    close(buf, tkhd);
    let mdia = open(buf, b"mdia");
    let mdhd = open_full(buf, b"mdhd", 0, 0);
    u32s(buf, &[0, 0, TIMESCALE, 0]);
    u16s(buf, &[0x55C4, 0]); // language "und"
    close(buf, mdhd);
    let hdlr = open_full(buf, b"hdlr", 0, 0);
    u32s(buf, &[0]);
    buf.extend_from_slice(b"vide");
    u32s(buf, &[0, 0, 0]);
    buf.extend_from_slice(b"VideoHandler\0");
    close(buf, hdlr);
    let minf = open(buf, b"minf");
    let vmhd = open_full(buf, b"vmhd", 0, 1);
    u16s(buf, &[0, 0, 0, 0]);
    close(buf, vmhd);
    let dinf = open(buf, b"dinf");
    let dref = open_full(buf, b"dref", 0, 0);
    u32s(buf, &[1]);
    let url = open_full(buf, b"url ", 0, 1); // media in this file
    close(buf, url);
    close(buf, dref);
    close(buf, dinf);
    stbl(buf, track);
    close(buf, minf);
    close(buf, mdia);
    close(buf, trak);
}

fn stbl(buf: &mut Vec<u8>, track: &VideoTrack) {
    let stbl = open(buf, b"stbl");
    let stsd = open_full(buf, b"stsd", 0, 0);
    u32s(buf, &[1]);
    let avc1 = open(buf, b"avc1");
    buf.extend_from_slice(&[0; 6]);
    u16s(buf, &[1, 0, 0]); // data_reference_index, pre_defined, reserved
    u32s(buf, &[0, 0, 0]);
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    u16s(buf, &[clamp(track.width), clamp(track.height)]);
    u32s(buf, &[0x0048_0000, 0x0048_0000, 0]);
    u16s(buf, &[1]); // frame_count
    buf.extend_from_slice(&[0; 32]); // compressorname
    u16s(buf, &[0x0018, 0xFFFF]);
    avcc(buf, track);
    close(buf, avc1);
    close(buf, stsd);
    for (kind, zeros) in [(b"stts", 1), (b"stsc", 1), (b"stsz", 2), (b"stco", 1)] {
        let b = open_full(buf, kind, 0, 0);
        u32s(buf, &vec![0; zeros]);
        close(buf, b);
    }
    close(buf, stbl);
}

/// `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 5.3.3.1) with one SPS and one PPS.
fn avcc(buf: &mut Vec<u8>, track: &VideoTrack) {
    let avcc = open(buf, b"avcC");
    let profile = track.sps.get(1).copied().unwrap_or(0);
    buf.push(1);
    buf.push(profile);
    buf.push(track.sps.get(2).copied().unwrap_or(0));
    buf.push(track.sps.get(3).copied().unwrap_or(0));
    buf.push(0xFC | 3); // 4-byte NAL unit lengths
    buf.push(0xE0 | 1);
    let len16 = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    u16s(buf, &[len16(track.sps.len())]);
    buf.extend_from_slice(&track.sps[..usize::from(len16(track.sps.len()))]);
    buf.push(1);
    u16s(buf, &[len16(track.pps.len())]);
    buf.extend_from_slice(&track.pps[..usize::from(len16(track.pps.len()))]);
    if matches!(profile, 100 | 110 | 122 | 144 | 244) {
        buf.push(0xFC | (track.chroma_format_idc & 3));
        buf.push(0xF8 | (track.bit_depth_luma.saturating_sub(8) & 7));
        buf.push(0xF8 | (track.bit_depth_chroma.saturating_sub(8) & 7));
        buf.push(0);
    }
    close(buf, avcc);
}

/// One sample of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SampleEntry {
    pub(crate) duration: u32,
    pub(crate) size: u32,
    pub(crate) sync: bool,
    /// Presentation minus decode time, in ticks (may be negative: `trun` version 1).
    pub(crate) composition_offset: i32,
}

/// Fragment `sequence` starting at `base_decode_time` ticks, whose sample data (`data_len`
/// bytes) is written right after the returned `mdat` header and right before the returned
/// `moof`: the `trun` data offset is negative, from the `moof` back to the data (D74).
pub(crate) fn fragment(
    sequence: u32,
    base_decode_time: u64,
    samples: &[SampleEntry],
    data_len: u64,
) -> (Vec<u8>, Vec<u8>) {
    let mut mdat = Vec::with_capacity(16);
    if data_len + 8 > u64::from(u32::MAX) {
        u32s(&mut mdat, &[1]);
        mdat.extend_from_slice(b"mdat");
        mdat.extend_from_slice(&(data_len + 16).to_be_bytes());
    } else {
        u32s(&mut mdat, &[(data_len + 8) as u32]);
        mdat.extend_from_slice(b"mdat");
    }
    let mut buf = Vec::with_capacity(100 + samples.len() * 16);
    let moof = open(&mut buf, b"moof");
    let mfhd = open_full(&mut buf, b"mfhd", 0, 0);
    u32s(&mut buf, &[sequence]);
    close(&mut buf, mfhd);
    let traf = open(&mut buf, b"traf");
    let tfhd = open_full(&mut buf, b"tfhd", 0, 0x02_0000); // default-base-is-moof
    u32s(&mut buf, &[TRACK_ID]);
    close(&mut buf, tfhd);
    let tfdt = open_full(&mut buf, b"tfdt", 1, 0);
    buf.extend_from_slice(&base_decode_time.to_be_bytes());
    close(&mut buf, tfdt);
    // data offset, and per sample: duration, size, flags, composition offset
    let trun = open_full(
        &mut buf,
        b"trun",
        1,
        0x0001 | 0x0100 | 0x0200 | 0x0400 | 0x0800,
    );
    let count = u32::try_from(samples.len()).unwrap_or(u32::MAX);
    u32s(&mut buf, &[count]);
    let data_offset = i32::try_from(data_len).map_or(i32::MIN, |len| -len);
    buf.extend_from_slice(&data_offset.to_be_bytes());
    for s in samples {
        let flags = if s.sync {
            SYNC_SAMPLE_FLAGS
        } else {
            NON_SYNC_SAMPLE_FLAGS
        };
        u32s(&mut buf, &[s.duration, s.size, flags]);
        buf.extend_from_slice(&s.composition_offset.to_be_bytes());
    }
    close(&mut buf, trun);
    close(&mut buf, traf);
    close(&mut buf, moof);
    (mdat, buf)
}
