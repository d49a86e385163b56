//! Sequence parameter sets as real encoders write them: `h264-reader`'s parser, with a
//! lenient second try when only a level limit fails (decision D71).
//!
//! `h264-reader` checks two things against the level's Table A-1 limits: the picture size
//! (`MaxFS`) and the VUI's `max_dec_frame_buffering` (`MaxDpbMbs`). Many real encoders write
//! a level smaller than their picture size needs; FFmpeg decodes such streams and reports the
//! written level. So when the strict parse fails on exactly those checks, the SPS is parsed
//! again as if its level were unknown (no level limit but the largest frame size any level
//! allows), and the written `level_idc` is put back: every value is the stream's own.

use h264_reader::nal::sps::{SeqParameterSet, SpsError};
use h264_reader::rbsp::{BitReader, ByteReader};

/// Offset of `level_idc` in an SPS NAL unit: header byte, `profile_idc`, constraint flags.
const LEVEL_IDC_OFFSET: usize = 3;
/// A `level_idc` that no level has: `h264-reader` then applies no level limit.
const UNKNOWN_LEVEL_IDC: u8 = 0xFF;

/// An SPS parsed from its NAL unit, and whether the lenient path was needed.
#[derive(Debug, Clone)]
pub(crate) struct ParsedSps {
    pub(crate) sps: SeqParameterSet,
    /// True when the strict parse failed on a level limit only (the values are kept).
    pub(crate) level_exceeded: bool,
}

/// Parses an SPS NAL unit (`nal` starts with its header byte).
pub(crate) fn parse_sps(nal: &[u8]) -> Result<ParsedSps, SpsError> {
    let strict = SeqParameterSet::from_bits(BitReader::new(ByteReader::skipping_h264_header(nal)));
    match strict {
        Ok(sps) => Ok(ParsedSps {
            sps,
            level_exceeded: false,
        }),
        Err(e) if is_level_limit(&e) && nal.len() > LEVEL_IDC_OFFSET => {
            let written = nal[LEVEL_IDC_OFFSET];
            let mut relaxed = nal.to_vec();
            relaxed[LEVEL_IDC_OFFSET] = UNKNOWN_LEVEL_IDC;
            let reader = BitReader::new(ByteReader::skipping_h264_header(relaxed.as_slice()));
            let mut sps = SeqParameterSet::from_bits(reader).map_err(|_| e)?;
            sps.level_idc = written;
            Ok(ParsedSps {
                sps,
                level_exceeded: true,
            })
        }
        Err(e) => Err(e),
    }
}

/// True for the errors `h264-reader` derives from the level's limits.
fn is_level_limit(e: &SpsError) -> bool {
    matches!(
        e,
        SpsError::FieldValueTooLarge {
            name: "pic_size_in_map_units" | "max_dec_frame_buffering",
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPS of test_videos/baseline.h264 (320x240, level 1.3, no emulation prevention in
    /// its first bytes) with its level replaced.
    fn baseline_sps_with_level(level_idc: u8) -> Vec<u8> {
        let data = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/baseline.h264"),
        )
        .unwrap();
        let start = data.windows(4).position(|w| w == [0, 0, 1, 0x67]).unwrap() + 3;
        let end = start
            + data[start..]
                .windows(3)
                .position(|w| w == [0, 0, 1])
                .unwrap();
        let mut nal = data[start..end].to_vec();
        while nal.last() == Some(&0) {
            nal.pop();
        }
        nal[LEVEL_IDC_OFFSET] = level_idc;
        nal
    }

    #[test]
    fn a_level_too_small_for_the_picture_keeps_the_values_and_the_written_level() {
        // Level 1.0 allows 99 macroblocks; 320x240 has 300.
        let strict = SeqParameterSet::from_bits(BitReader::new(ByteReader::skipping_h264_header(
            baseline_sps_with_level(10).as_slice(),
        )));
        assert!(strict.is_err(), "h264-reader's level check must refuse it");
        let parsed = parse_sps(&baseline_sps_with_level(10)).unwrap();
        assert!(parsed.level_exceeded);
        assert_eq!(parsed.sps.level_idc, 10);
        assert_eq!(parsed.sps.pixel_dimensions().unwrap(), (320, 240));
    }

    #[test]
    fn a_sound_sps_takes_the_strict_path() {
        let parsed = parse_sps(&baseline_sps_with_level(13)).unwrap();
        assert!(!parsed.level_exceeded);
        assert_eq!(parsed.sps.level_idc, 13);
    }

    #[test]
    fn other_errors_stay_errors() {
        let mut nal = baseline_sps_with_level(10);
        nal.truncate(5);
        assert!(parse_sps(&nal).is_err());
    }
}
