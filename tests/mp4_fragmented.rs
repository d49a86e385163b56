//! The fragmented MP4 writer (D73-D75): every H.264 file of `test_videos/` muxed with
//! `H264Fmp4Muxer` plays in FFmpeg with the source's frame count, duration and pictures (in
//! presentation order), and so does any prefix of the file, up to its last complete fragment.
//! Needs ffmpeg and ffprobe (`.ci/run` installs them).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use vstream::media::fmp4::{Fmp4Options, H264Fmp4Muxer};

fn videos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos")
}

/// Every `.h264` file directly under `test_videos/` (those FFmpeg itself can decode).
fn h264_videos() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(videos())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "h264"))
        .collect();
    out.sort();
    assert!(out.len() >= 6, "test videos missing");
    out
}

fn truth(video: &Path) -> serde_json::Value {
    let name = video.file_name().unwrap().to_str().unwrap();
    let path = videos().join("truth").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn mux(data: &[u8], chunk: usize) -> Vec<u8> {
    let mut muxer = H264Fmp4Muxer::new(Cursor::new(Vec::new()), Fmp4Options::default());
    for piece in data.chunks(chunk.max(1)) {
        muxer.push(piece).unwrap();
    }
    let (out, stats) = muxer.finish().unwrap();
    assert_eq!(stats.dropped_before_idr, 0);
    out.into_inner()
}

/// FFmpeg's decode of `path`: (per-frame picture hashes in presentation order, stderr).
fn decode(path: &Path) -> (Vec<String>, String) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg (apt-get install ffmpeg)");
    let hashes = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect();
    (hashes, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// ffprobe's decoded frame count and format duration of `path`.
fn count_frames(path: &Path) -> (u64, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries", "stream=nb_read_frames:format=duration"])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let frames = json["streams"][0]["nb_read_frames"].as_str().unwrap();
    let duration = json["format"]["duration"].as_str().unwrap();
    (frames.parse().unwrap(), duration.parse().unwrap())
}

/// Samples described by the complete `moof` boxes at the top level of `mp4` (the `trun`
/// sample count is read at its fixed place: no optional `tfhd` fields are written).
fn samples_in_complete_fragments(mp4: &[u8]) -> u64 {
    let (mut pos, mut samples) = (0usize, 0u64);
    while pos + 8 <= mp4.len() {
        let size = u32::from_be_bytes(mp4[pos..pos + 4].try_into().unwrap()) as usize;
        if size < 8 || pos + size > mp4.len() {
            break;
        }
        if &mp4[pos + 4..pos + 8] == b"moof" {
            let body = &mp4[pos..pos + size];
            let trun = body.windows(4).position(|w| w == b"trun").unwrap();
            let count = &body[trun + 8..trun + 12];
            samples += u64::from(u32::from_be_bytes(count.try_into().unwrap()));
        }
        pos += size;
    }
    samples
}

/// An output that records every write at its offset, in order, so that the file as it
/// stood at any instant (after any number of writes, the last one cut anywhere) can be
/// rebuilt: what a crash or `kill -9` leaves on disk.
#[derive(Default)]
struct RecordedFile {
    pos: u64,
    writes: Vec<(u64, Vec<u8>)>,
}

impl std::io::Write for RecordedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writes.push((self.pos, buf.to_vec()));
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Seek for RecordedFile {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        match to {
            std::io::SeekFrom::Start(p) => self.pos = p,
            _ => unimplemented!("the muxer seeks from the start only"),
        }
        Ok(self.pos)
    }
}

impl RecordedFile {
    /// The file after the first `n` writes and `part` bytes of the next one.
    fn state(&self, n: usize, part: usize) -> Vec<u8> {
        let mut file = Vec::new();
        let writes = self.writes.iter().take(n).map(|(at, b)| (*at, &b[..]));
        let partial = self
            .writes
            .get(n)
            .map(|(at, b)| (*at, &b[..part.min(b.len())]));
        for (at, bytes) in writes.chain(partial) {
            let at = at as usize;
            if file.len() < at + bytes.len() {
                file.resize(at + bytes.len(), 0);
            }
            file[at..at + bytes.len()].copy_from_slice(bytes);
        }
        file
    }
}

#[test]
fn every_h264_test_video_plays_with_its_frame_count_duration_and_pictures() {
    let dir = tempfile::tempdir().unwrap();
    for video in h264_videos() {
        let t = truth(&video);
        let out = dir
            .path()
            .join(video.file_name().unwrap())
            .with_extension("mp4");
        std::fs::write(&out, mux(&std::fs::read(&video).unwrap(), 64 * 1024)).unwrap();
        let name = video.display();
        let frames = t["frames"].as_u64().unwrap();
        let (count, duration) = count_frames(&out);
        assert_eq!(count, frames, "{name}");
        let expected = frames as f64 / t["frame_rate"].as_f64().unwrap();
        assert!((duration - expected).abs() < 1e-3, "{name}: {duration} s");
        let (pictures, errors) = decode(&out);
        assert_eq!(errors, "", "{name}");
        let (source, _) = decode(&video);
        assert_eq!(pictures, source, "{name}: pictures or their order differ");
    }
}

#[test]
fn a_file_cut_at_any_instant_plays_up_to_its_last_complete_fragment_without_error() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.mp4");
    for name in ["main_bframes.h264", "high_slices.h264"] {
        let data = std::fs::read(videos().join(name)).unwrap();
        let mut muxer = H264Fmp4Muxer::new(RecordedFile::default(), Fmp4Options::default());
        muxer.push(&data).unwrap();
        let (recorded, stats) = muxer.finish().unwrap();
        assert!(stats.fragments >= 3, "{name}: {stats:?}");
        let whole = recorded.state(recorded.writes.len(), 0);
        assert_eq!(samples_in_complete_fragments(&whole), stats.samples);
        // After every write, and in the middle of every write, once the first fragment
        // has been described (before that there is no picture to play).
        let mut played_once = false;
        for n in 0..recorded.writes.len() {
            for part in [0, recorded.writes[n].1.len() / 2] {
                let state = recorded.state(n, part);
                let complete = samples_in_complete_fragments(&state);
                if complete == 0 {
                    continue;
                }
                played_once = true;
                std::fs::write(&cut, &state).unwrap();
                let (pictures, errors) = decode(&cut);
                let at = format!("{name} after {n} writes + {part} bytes");
                assert_eq!(errors, "", "{at}");
                assert_eq!(pictures.len() as u64, complete, "{at}");
            }
        }
        assert!(played_once);
    }
}

#[test]
fn the_output_does_not_depend_on_how_the_input_was_chunked() {
    let data = std::fs::read(videos().join("high_slices.h264")).unwrap();
    let whole = mux(&data, data.len());
    for chunk in [1, 7, 188, 4096] {
        assert!(mux(&data, chunk) == whole, "chunk {chunk}");
    }
}

#[test]
fn a_seek_restarts_the_timeline_at_its_target() {
    // main_bframes: 30 fps, IDR every 60 frames. Send the first GOP, then seek to 6.0 s and
    // send from the IDR at frame 180 to the end.
    let video = videos().join("main_bframes.h264");
    let t = truth(&video);
    let offsets: Vec<usize> = (t["keyframe_byte_offsets"].as_array().unwrap().iter())
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let data = std::fs::read(&video).unwrap();
    let mut muxer = H264Fmp4Muxer::new(Cursor::new(Vec::new()), Fmp4Options::default());
    muxer.push(&data[..offsets[1]]).unwrap();
    muxer.seek_to(6.0).unwrap();
    muxer.push(&data[offsets[3]..]).unwrap();
    let (mp4, stats) = muxer.finish().unwrap();
    let mp4 = mp4.into_inner();
    assert_eq!(stats.samples, 60 + 120);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seek.mp4");
    std::fs::write(&out, mp4).unwrap();
    let (count, duration) = count_frames(&out);
    assert_eq!(count, 180);
    assert!((duration - 10.0).abs() < 1e-3, "{duration}");
    let (pictures, errors) = decode(&out);
    assert_eq!(errors, "");
    let (source, _) = decode(&video);
    assert_eq!(pictures[..60], source[..60]);
    assert_eq!(pictures[60..], source[180..]);
    // The first picture after the seek is presented at 6.0 s.
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["frame=pts_time", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .unwrap();
    let times: Vec<f64> = String::from_utf8_lossy(&probe.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().unwrap())
        .collect();
    let first = times[0];
    assert!(
        (times[60] - first - 6.0).abs() < 1e-6,
        "{} vs {first}",
        times[60]
    );
}

#[test]
fn pictures_before_the_first_idr_are_dropped_and_garbage_writes_nothing() {
    // baseline.h264 from its 10th access unit: 15 P pictures, then IDRs every 25.
    let video = videos().join("baseline.h264");
    let data = std::fs::read(&video).unwrap();
    let plan = vstream::media::plan::SegmentPlan::build(
        Cursor::new(&data),
        &vstream::media::FileFormat::H264,
        vstream::media::SegmentMode::Frame,
        &Default::default(),
    )
    .unwrap();
    let tenth = plan.iter().nth(10).unwrap().offset as usize;
    let mut muxer = H264Fmp4Muxer::new(Cursor::new(Vec::new()), Fmp4Options::default());
    muxer.push(&data[tenth..]).unwrap();
    let (out, stats) = muxer.finish().unwrap();
    assert_eq!(stats.dropped_before_idr, 15);
    assert_eq!(stats.samples, 75);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.mp4");
    std::fs::write(&path, out.into_inner()).unwrap();
    let (pictures, errors) = decode(&path);
    assert_eq!((pictures.len(), errors.as_str()), (75, ""));

    let junk = std::fs::read(videos().join("data.bin")).unwrap();
    let mut muxer = H264Fmp4Muxer::new(Cursor::new(Vec::new()), Fmp4Options::default());
    for piece in junk.chunks(5000) {
        muxer.push(piece).unwrap();
    }
    let (out, stats) = muxer.finish().unwrap();
    assert!(out.into_inner().is_empty());
    assert_eq!(stats.samples, 0);
}
