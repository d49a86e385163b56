//! What a file holds, from its first bytes: the content decides, the extension is a hint
//! (decision D72).
//!
//! - ISO-BMFF: a chain of well-formed top-level box headers from offset 0 (walked by seeking,
//!   never reading `mdat`) that reaches an `ftyp` or `moov` box.
//! - H.264 Annex-B: within the first [`SNIFF_LEN`] bytes, start codes whose NAL headers are
//!   valid (forbidden bit clear, most of them), at least one of which is an SPS that parses
//!   (leniently on level limits, as the splitter does).
//!
//! When neither is conclusive (an empty file, random bytes, a truncated header) the extension
//! decides, as before: a `.h264` file of garbage is still refused as H.264 (1001) in an
//! access-unit mode, and a `.mp4` whose boxes are damaged is still sent as MP4 chunks.

use super::h264::annexb::AnnexBScanner;
use super::h264::sps_parses;
use super::FileFormat;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes read from the start of a file to look for an SPS (camera dumps may start with a
/// partial access unit or other bytes before the first parameter sets).
pub const SNIFF_LEN: usize = 256 * 1024;
/// Top-level boxes walked before giving up on finding `ftyp` or `moov`.
const MAX_TOP_LEVEL_BOXES: usize = 32;
/// Top-level box types that may precede `ftyp`/`moov` in files seen in practice.
const TOP_LEVEL_BOXES: [&[u8; 4]; 13] = [
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"uuid", b"styp", b"sidx",
    b"moof", b"meta", b"junk",
];

/// The format of the file at `path`: its content first, its extension as the fallback.
pub fn detect_format(path: &Path) -> io::Result<FileFormat> {
    let hint = FileFormat::from_path(path);
    let mut file = File::open(path)?;
    sniff(&mut file, hint)
}

/// The format of `source` (read from its start), `hint` when the content is inconclusive.
pub fn sniff(source: &mut (impl Read + Seek), hint: FileFormat) -> io::Result<FileFormat> {
    source.seek(SeekFrom::Start(0))?;
    if is_iso_bmff(source)? {
        return Ok(FileFormat::Mp4);
    }
    source.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(SNIFF_LEN.min(64 * 1024));
    source.take(SNIFF_LEN as u64).read_to_end(&mut head)?;
    source.seek(SeekFrom::Start(0))?;
    if is_annex_b_h264(&head) {
        return Ok(FileFormat::H264);
    }
    Ok(hint)
}

/// True when the top-level boxes from offset 0 are well formed up to an `ftyp` or `moov`.
fn is_iso_bmff(source: &mut (impl Read + Seek)) -> io::Result<bool> {
    let end = source.seek(SeekFrom::End(0))?;
    let mut pos = 0u64;
    for _ in 0..MAX_TOP_LEVEL_BOXES {
        if end.saturating_sub(pos) < 8 {
            return Ok(false);
        }
        source.seek(SeekFrom::Start(pos))?;
        let mut header = [0u8; 16];
        let want = if end - pos >= 16 { 16 } else { 8 };
        source.read_exact(&mut header[..want])?;
        let kind = &header[4..8];
        if !TOP_LEVEL_BOXES.iter().any(|k| k.as_slice() == kind) {
            return Ok(false);
        }
        if kind == b"ftyp" || kind == b"moov" {
            return Ok(true);
        }
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let size = match size32 {
            0 => return Ok(false), // runs to the end: nothing after it
            1 if want == 16 => u64::from_be_bytes([
                header[8], header[9], header[10], header[11], header[12], header[13], header[14],
                header[15],
            ]),
            1 => return Ok(false),
            n => u64::from(n),
        };
        if size < 8 || size > end - pos {
            return Ok(false);
        }
        pos += size;
    }
    Ok(false)
}

/// True when `head` holds Annex-B NAL units with valid headers and a parsable SPS.
pub(crate) fn is_annex_b_h264(head: &[u8]) -> bool {
    let mut scanner = AnnexBScanner::new();
    let (mut valid, mut invalid, mut sps_ok) = (0u32, 0u32, false);
    let mut look = |nal: super::h264::annexb::NalUnit<'_>| {
        let Some(&header) = nal.prefix.first() else {
            invalid += 1;
            return;
        };
        let nal_type = header & 0x1f;
        // forbidden_zero_bit clear and a type H.264 defines (0 and 24-31 are unspecified).
        if header & 0x80 != 0 || nal_type == 0 || nal_type >= 24 {
            invalid += 1;
            return;
        }
        valid += 1;
        // An SPS has nal_ref_idc != 0 (§7.4.1); the last one may be cut by the window.
        if nal_type == 7 && header & 0x60 != 0 && !sps_ok {
            sps_ok = sps_parses(nal.prefix);
        }
    };
    scanner.push(head, &mut look);
    scanner.finish(&mut look);
    sps_ok && valid >= 2 && invalid <= valid / 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn video(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("test_videos")
                .join(name),
        )
        .unwrap()
    }

    fn other(ext: &str) -> FileFormat {
        FileFormat::Other(ext.to_string())
    }

    #[test]
    fn annex_b_content_is_h264_whatever_the_name() {
        for name in [
            "baseline.h264",
            "main_bframes.h264",
            "aud.h264",
            "novui.h264",
        ] {
            for hint in [
                other("jsv"),
                other("26l"),
                other("bin"),
                other(""),
                FileFormat::Mp4,
            ] {
                let got = sniff(&mut Cursor::new(video(name)), hint.clone()).unwrap();
                assert_eq!(got, FileFormat::H264, "{name} as {hint:?}");
            }
        }
    }

    #[test]
    fn iso_bmff_content_is_mp4_whatever_the_name() {
        let got = sniff(&mut Cursor::new(video("av.mp4")), other("bin")).unwrap();
        assert_eq!(got, FileFormat::Mp4);
        // moov first, after a free box; and mdat first with moov at the end.
        let mut moov_late = Vec::new();
        moov_late.extend_from_slice(&[0, 0, 0, 16]);
        moov_late.extend_from_slice(b"mdat");
        moov_late.extend_from_slice(&[0; 8]);
        moov_late.extend_from_slice(&[0, 0, 0, 8]);
        moov_late.extend_from_slice(b"moov");
        let got = sniff(&mut Cursor::new(moov_late), other("")).unwrap();
        assert_eq!(got, FileFormat::Mp4);
    }

    #[test]
    fn random_bytes_keep_the_extension() {
        let data = video("data.bin");
        for hint in [other("bin"), FileFormat::H264, FileFormat::Mp4, other("")] {
            let got = sniff(&mut Cursor::new(data.clone()), hint.clone()).unwrap();
            assert_eq!(got, hint);
        }
        let got = sniff(&mut Cursor::new(Vec::new()), FileFormat::H264).unwrap();
        assert_eq!(got, FileFormat::H264);
    }

    #[test]
    fn start_codes_without_a_parsable_sps_are_not_h264() {
        // Valid-looking NAL headers (non-IDR slices, a PPS) but no SPS.
        let mut data = Vec::new();
        for _ in 0..10 {
            data.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a, 0x12, 0x34]);
        }
        data.extend_from_slice(&[0, 0, 1, 0x68, 0xce, 0x38, 0x80]);
        assert!(!is_annex_b_h264(&data));
        // A box header that does not chain is not ISO-BMFF either.
        let mut bad_box = vec![0, 0, 0, 4];
        bad_box.extend_from_slice(b"ftyp");
        let got = sniff(&mut Cursor::new(bad_box), other("x")).unwrap();
        assert_eq!(got, FileFormat::Mp4, "ftyp at offset 0 is enough");
        let mut cut = vec![0, 0, 0x10, 0];
        cut.extend_from_slice(b"mdat");
        let got = sniff(&mut Cursor::new(cut), other("x")).unwrap();
        assert_eq!(got, other("x"), "a box larger than the file is no evidence");
    }

    #[test]
    fn a_stream_cut_inside_its_first_access_unit_is_still_h264() {
        let mut data = video("baseline.h264");
        data.truncate(200);
        assert!(is_annex_b_h264(&data));
    }
}
