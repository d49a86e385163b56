//! One entry point for "what is in this file": the catalog calls it for every file it lists,
//! and it dispatches on the format so each format's reader stays in its own module.

use crate::media::mp4::read_mp4_info;
use crate::media::{FileFormat, MediaError, MediaInfo};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// The format of the file at `path` (from its extension) and what is known of its media.
///
/// MP4 files are read with [`read_mp4_info`] (only `moov` is read); other files have no
/// media information. Errors: I/O (404 if the file is missing, 500 otherwise) or a
/// malformed MP4 (1001).
pub fn probe_file(path: &Path) -> Result<(FileFormat, MediaInfo), MediaError> {
    let format = FileFormat::from_path(path);
    let info = match &format {
        FileFormat::Mp4 => {
            let mut reader = BufReader::new(File::open(path)?);
            read_mp4_info(&mut reader)?.to_media_info()
        }
        // H.264 metadata comes from media::h264::probe_h264, wired in when that module lands
        FileFormat::H264 => MediaInfo {
            video_codec: Some("H.264".into()),
            ..Default::default()
        },
        FileFormat::Other(_) => MediaInfo::default(),
    };
    Ok((format, info))
}
