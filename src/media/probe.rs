//! One entry point for "what is in this file": the catalog calls it for every file it lists,
//! and it dispatches on the format so each format's reader stays in its own module.

use crate::media::h264::probe_h264;
use crate::media::mp4::read_mp4_info;
use crate::media::plan::{PlanOptions, SegmentPlan};
use crate::media::{FileFormat, MediaError, MediaInfo, SegmentMode};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// The format of the file at `path` (from its content, D72) and what is known of its media.
///
/// MP4 files are read with [`read_mp4_info`] (only `moov` is read); H.264 streams are
/// scanned once with [`probe_h264`] (bounded memory); other files have no media
/// information. Errors: I/O (404 if the file is missing, 500 otherwise), a malformed MP4 or
/// an H.264 file with no decodable picture (1001).
pub fn probe_file(path: &Path) -> Result<(FileFormat, MediaInfo), MediaError> {
    let format = FileFormat::detect(path)?;
    let info = match &format {
        FileFormat::Mp4 => {
            let mut reader = BufReader::new(File::open(path)?);
            read_mp4_info(&mut reader)?.to_media_info()
        }
        FileFormat::H264 => probe_h264(BufReader::new(File::open(path)?))?.to_media_info(),
        FileFormat::Other(_) => MediaInfo::default(),
    };
    Ok((format, info))
}

/// Everything needed to send a file: its format, its segment plan in `mode`, and its media
/// information. This is what a client does for a FileRequest and what `vstream inspect`
/// shows.
///
/// MP4 metadata (duration, sync samples for seeking) feeds the plan. An MP4 whose `moov`
/// cannot be read is still sent, as fixed chunks with no time axis (a seek on it is then
/// refused): its bytes are the user's, whatever its boxes say.
pub fn plan_file(
    path: &Path,
    mode: SegmentMode,
    mut opts: PlanOptions,
) -> Result<(FileFormat, SegmentPlan, MediaInfo), MediaError> {
    let format = FileFormat::detect(path)?;
    let mut info = MediaInfo::default();
    if format == FileFormat::Mp4 {
        let mut reader = BufReader::new(File::open(path)?);
        if let Ok(mp4) = read_mp4_info(&mut reader) {
            opts.mp4_duration = Some(mp4.duration).filter(|d| d.is_finite() && *d > 0.0);
            opts.mp4_sync_samples = mp4
                .sync_samples
                .iter()
                .map(|s| (s.time, s.byte_offset))
                .collect();
            opts.mp4_video_samples = mp4.video.as_ref().map(|v| {
                let keys = mp4.video_sync_indices.iter().map(|&i| u64::from(i));
                (v.frame_count, keys.collect())
            });
            info = mp4.to_media_info();
        }
    }
    let plan = SegmentPlan::build(BufReader::new(File::open(path)?), &format, mode, &opts)?;
    if let Some(h264) = plan.h264_info() {
        info = h264.to_media_info();
    }
    Ok((format, plan, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("test_videos")
            .join(name)
    }

    #[test]
    fn h264_files_are_probed_from_their_sps() {
        let (format, info) = probe_file(&video("high_slices.h264")).unwrap();
        assert_eq!(format, FileFormat::H264);
        assert_eq!((info.width, info.height), (Some(320), Some(180)));
        assert_eq!(info.frame_rate, Some(24.0));
        assert_eq!(info.video_codec.as_deref(), Some("H.264"));
        assert!((info.duration.unwrap() - 3.0).abs() < 1e-9);
    }

    #[test]
    fn mp4_plans_carry_the_duration_and_seek_to_sync_samples() {
        let (format, plan, info) =
            plan_file(&video("av.mp4"), SegmentMode::Frame, PlanOptions::default()).unwrap();
        assert_eq!(format, FileFormat::Mp4);
        assert_eq!(plan.applied_mode(), SegmentMode::Fixed);
        assert!((plan.duration().unwrap() - 6.0).abs() < 0.05);
        assert_eq!(info.audio_codec.as_deref(), Some("AAC"));
        // The keyframe at 2.0 s sits at byte 207326 (ffprobe): chunk 0 of 256 KiB.
        assert_eq!(plan.segment_for_time(2.5), Some(0));
        // The keyframe at 4.0 s sits at byte 433039: chunk 1.
        assert_eq!(plan.segment_for_time(4.2), Some(1));
    }
}
