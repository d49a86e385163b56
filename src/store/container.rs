//! The playable copy of a received H.264 stream: a fragmented MP4 beside the byte-exact
//! output (docs/protocol.md D74-D76).
//!
//! [`Mp4Copy`] is fed the output's contiguous prefix as it grows (so in index order, each
//! byte once) and muxes it with [`H264Fmp4Muxer`] into `<name>.mp4.part` beside the output,
//! created only once the muxer has something to write (a stream that is not H.264 leaves
//! nothing). Each fragment is flushed as it is completed, so a crash, `kill -9` or a stop
//! leaves a `.part` that plays up to its last complete fragment. When the transfer ends the
//! copy is finished, synced and renamed to `<name>.mp4` (atomically: a reader sees either the
//! partial file under its `.part` name or the whole one). A seek restarts its timeline at
//! the restart segment's timestamp.

use crate::media::fmp4::{Fmp4Options, Fmp4Stats, H264Fmp4Muxer};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What the platform writes for an H.264 pull in frame, GOP or time mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Container {
    /// The byte-exact stream only.
    Raw,
    /// The fragmented MP4 only (the raw stream is removed once the MP4 is final).
    Mp4,
    /// Both (the default).
    #[default]
    Both,
}

impl Container {
    /// Parses `raw`, `mp4` or `both`.
    pub fn from_name(name: &str) -> Option<Container> {
        match name {
            "raw" => Some(Container::Raw),
            "mp4" => Some(Container::Mp4),
            "both" => Some(Container::Both),
            _ => None,
        }
    }

    /// True when an MP4 copy is written.
    pub fn writes_mp4(self) -> bool {
        self != Container::Raw
    }

    /// True when the raw stream is kept.
    pub fn keeps_raw(self) -> bool {
        self != Container::Mp4
    }
}

/// The MP4 copy's final path for an output at `raw`: `<raw>.mp4` (e.g. `clip.h264.mp4`).
/// The copy is named after the raw file's final name: an unverified output still called
/// `clip.h264.part` (D65) has its copy at `clip.h264.mp4` too.
pub fn mp4_path(raw: &Path) -> PathBuf {
    let file_name = raw.file_name().unwrap_or_default();
    let stem = file_name
        .to_str()
        .and_then(|n| n.strip_suffix(".part"))
        .filter(|n| !n.is_empty());
    let mut name = stem.map_or_else(|| file_name.to_os_string(), Into::into);
    name.push(".mp4");
    raw.with_file_name(name)
}

/// The path the copy has while it is written: `<raw>.mp4.part`.
pub fn mp4_part_path(raw: &Path) -> PathBuf {
    let mut name = mp4_path(raw).file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    raw.with_file_name(name)
}

/// A file created on its first write.
struct LazyFile {
    path: PathBuf,
    file: Option<BufWriter<File>>,
}

impl LazyFile {
    fn get(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&self.path)?;
            self.file = Some(BufWriter::with_capacity(256 * 1024, file));
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("file not open"))
    }
}

impl Write for LazyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.get()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Seek for LazyFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.get()?.seek(pos)
    }
}

/// The MP4 copy of one received stream.
pub struct Mp4Copy {
    muxer: H264Fmp4Muxer<LazyFile>,
    part: PathBuf,
    path: PathBuf,
}

impl std::fmt::Debug for Mp4Copy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4Copy").field("path", &self.path).finish()
    }
}

impl Mp4Copy {
    /// A copy of the stream received at `raw` (nothing is created before the first IDR).
    pub fn new(raw: &Path) -> Self {
        let part = mp4_part_path(raw);
        let writer = LazyFile {
            path: part.clone(),
            file: None,
        };
        Mp4Copy {
            muxer: H264Fmp4Muxer::new(writer, Fmp4Options::default()),
            part,
            path: mp4_path(raw),
        }
    }

    /// The next bytes of the stream, in order.
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.muxer.push(bytes)
    }

    /// A seek: what follows starts at `time` seconds of the source.
    pub fn seek_to(&mut self, time: f64) -> io::Result<()> {
        self.muxer.seek_to(time)
    }

    /// Writes the rest, syncs and renames the copy to its final name; returns that path
    /// and the counts, or `None` when nothing was written (not an H.264 stream).
    pub fn finish(self) -> io::Result<Option<(PathBuf, Fmp4Stats)>> {
        let (writer, stats) = self.muxer.finish()?;
        let Some(file) = writer.file else {
            return Ok(None);
        };
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&self.part, &self.path)?;
        if let Some(dir) = self.path.parent() {
            // The rename is durable once the folder is synced.
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(Some((self.path, stats)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_appears_under_its_final_name_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("clip.h264");
        let data =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/baseline.h264"))
                .unwrap();
        let mut copy = Mp4Copy::new(&raw);
        copy.push(&data[..data.len() / 2]).unwrap();
        assert!(mp4_part_path(&raw).exists());
        assert!(!mp4_path(&raw).exists());
        copy.push(&data[data.len() / 2..]).unwrap();
        let (path, stats) = copy.finish().unwrap().unwrap();
        assert_eq!(path, dir.path().join("clip.h264.mp4"));
        assert!(path.exists() && !mp4_part_path(&raw).exists());
        assert_eq!(stats.samples, 100);
    }

    #[test]
    fn a_stream_that_is_not_h264_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("data.bin");
        let mut copy = Mp4Copy::new(&raw);
        copy.push(&[7u8; 10_000]).unwrap();
        assert!(copy.finish().unwrap().is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_copy_of_an_unverified_part_is_named_after_the_final_name() {
        let dir = Path::new("/out/s");
        assert_eq!(
            mp4_path(&dir.join("clip.h264.part")),
            dir.join("clip.h264.mp4")
        );
        assert_eq!(mp4_path(&dir.join("clip.h264")), dir.join("clip.h264.mp4"));
        assert_eq!(mp4_path(&dir.join(".part")), dir.join(".part.mp4"));
    }

    #[test]
    fn container_names() {
        assert_eq!(Container::from_name("both"), Some(Container::Both));
        assert_eq!(Container::from_name("mp4"), Some(Container::Mp4));
        assert_eq!(Container::from_name("raw"), Some(Container::Raw));
        assert_eq!(Container::from_name("mkv"), None);
        assert!(Container::default().writes_mp4() && Container::default().keeps_raw());
    }
}
