//! Every sample of an MP4's first H.264 video track and first AAC audio track, for MP4
//! frame mode (docs/protocol.md D77): where each sample lies in the file, when it is
//! decoded, how long it lasts, whether it is a sync sample; and the decoder configurations
//! (`avcC` parameter sets, the AAC AudioSpecificConfig from `esds`).
//!
//! Built from the sample tables only (`stsz`, `stsc`/`stco`, `stts`, `stss`): `mdat` is
//! never read here. Memory: 32 bytes per sample (a 2-hour 30 fps film with 48 kHz audio has
//! ~0.5 M samples: 16 MiB), the same order as the tables themselves; counts the tables do
//! not back with bytes are refused.

use super::atom::Strictness;
use super::file::read_moov;
use super::moov::trak::stbl::Stbl;
use super::moov::trak::{Hdlr, Trak};
use super::moov::Moov;
use super::Mp4ReadOptions;
use crate::media::MediaError;
use std::io::{Read, Seek};

/// More samples than this in one track is refused (what a 64 MiB `stsz` could describe).
const MAX_SAMPLES: u64 = 16 * 1024 * 1024;
/// A sample larger than this is refused: a segment stream is bounded by 16 MiB (profile
/// section 2), and the sender reads a sample whole to rewrite it.
const MAX_SAMPLE_BYTES: u32 = 15 * 1024 * 1024;

/// One sample of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackSample {
    /// Absolute offset of its first byte in the file.
    pub offset: u64,
    /// Bytes.
    pub size: u32,
    /// Decode time in the track's timescale (`stts`).
    pub decode_time: u64,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// A sync sample (`stss`; every sample without one).
    pub sync: bool,
}

/// The samples of one track, in decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSamples {
    /// Ticks per second of `decode_time` and `duration` (`mdhd`).
    pub timescale: u32,
    /// The samples.
    pub samples: Vec<TrackSample>,
}

/// The H.264 decoder configuration of the video track (`avcC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// Bytes of each NAL unit length prefix in the samples.
    pub nal_length_size: u8,
    /// Sequence parameter set NAL units.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter set NAL units.
    pub pps: Vec<Vec<u8>>,
}

impl AvcConfig {
    /// The parameter sets as Annex-B (each after a 4-byte start code): what frame mode puts
    /// before every sync sample.
    pub fn annexb_parameter_sets(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for nal in self.sps.iter().chain(&self.pps) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
        out
    }
}

/// The AAC configuration of the audio track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacConfig {
    /// The AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1), as `esds` carries it.
    pub audio_specific_config: Vec<u8>,
    /// Samples per second (the sample entry's, else the media timescale).
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
}

/// What MP4 frame mode sends: the video track's samples, and the audio track's if it is AAC.
#[derive(Debug, Clone, PartialEq)]
pub struct Mp4Demux {
    /// The first video track, H.264.
    pub video: TrackSamples,
    /// Its decoder configuration.
    pub avc: AvcConfig,
    /// The first audio track when it is AAC with an AudioSpecificConfig.
    pub audio: Option<(TrackSamples, AacConfig)>,
}

/// Reads the sample tables of `source` for frame mode.
///
/// # Errors
/// [`MediaError::InvalidMp4`] when there is no H.264 video track with an `avcC` whose NAL
/// units have 4-byte lengths (their conversion to Annex-B then keeps every sample's size), or
/// when the tables are inconsistent; [`MediaError::Io`] when reading fails. An audio track
/// that is not AAC, or whose tables are damaged, is left out (logged), not an error.
pub fn read_mp4_demux(source: &mut (impl Read + Seek)) -> Result<Mp4Demux, MediaError> {
    let located = read_moov(source, &Mp4ReadOptions::default())?;
    demux_tables(&located.moov, located.file_size)
}

fn demux_tables(moov: &Moov, file_size: u64) -> Result<Mp4Demux, MediaError> {
    let video_trak = first_track(moov, Hdlr::VIDEO)
        .ok_or_else(|| MediaError::InvalidMp4("no video track".into()))?;
    let entry = (video_trak.mdia.minf.stbl.stsd.entries.first())
        .ok_or_else(|| MediaError::InvalidMp4("no video sample entry".into()))?;
    if !matches!(&entry.format.0, b"avc1" | b"avc3") {
        return Err(MediaError::InvalidMp4(format!(
            "video track is {}, not H.264",
            entry.format.to_text()
        )));
    }
    let avcc = (entry.visual(Strictness::Lenient)?.avcc)
        .ok_or_else(|| MediaError::InvalidMp4("no avcC".into()))?;
    if avcc.nal_length_size != 4 {
        return Err(MediaError::InvalidMp4(format!(
            "NAL unit lengths of {} bytes (frame mode takes 4)",
            avcc.nal_length_size
        )));
    }
    let avc = AvcConfig {
        nal_length_size: avcc.nal_length_size,
        sps: avcc.sps,
        pps: avcc.pps,
    };
    let video = track_samples(video_trak, file_size)?;
    let audio = first_track(moov, Hdlr::AUDIO).and_then(|trak| match aac_track(trak, file_size) {
        Ok(audio) => audio,
        Err(e) => {
            tracing::warn!("MP4 audio track left out of frame mode: {e}");
            None
        }
    });
    Ok(Mp4Demux { video, avc, audio })
}

fn first_track(moov: &Moov, handler: super::FourCC) -> Option<&Trak> {
    (moov.trak.iter()).find(|t| t.mdia.hdlr.handler_type == handler)
}

/// The track's samples and AAC configuration; `None` when it is not AAC with a config.
fn aac_track(trak: &Trak, file_size: u64) -> Result<Option<(TrackSamples, AacConfig)>, MediaError> {
    let Some(entry) = trak.mdia.minf.stbl.stsd.entries.first() else {
        return Ok(None);
    };
    if &entry.format.0 != b"mp4a" {
        return Ok(None);
    }
    let audio = entry.audio()?;
    // 0x40: MPEG-4 audio; 0x66-0x68: MPEG-2 AAC profiles.
    let is_aac = matches!(audio.object_type_indication, Some(0x40 | 0x66..=0x68));
    let Some(asc) = audio
        .decoder_specific_info
        .filter(|a| is_aac && a.len() >= 2)
    else {
        return Ok(None);
    };
    let timescale = trak.mdia.mdhd.timescale;
    let sample_rate = if audio.samplerate >= 1.0 && audio.samplerate <= f64::from(u32::MAX) {
        audio.samplerate as u32
    } else {
        timescale
    };
    let samples = track_samples(trak, file_size)?;
    Ok(Some((
        samples,
        AacConfig {
            audio_specific_config: asc,
            sample_rate,
            channels: audio.channelcount,
        },
    )))
}

/// Every sample of `trak` in decode order.
pub(crate) fn track_samples(trak: &Trak, file_size: u64) -> Result<TrackSamples, MediaError> {
    let timescale = trak.mdia.mdhd.timescale;
    if timescale == 0 {
        return Err(invalid("mdhd", "timescale is zero"));
    }
    let stbl = &trak.mdia.minf.stbl;
    let count = u64::from(stbl.stsz.sample_count);
    let constant = u64::from(stbl.stsz.sample_size);
    if count > MAX_SAMPLES || (constant != 0 && count.saturating_mul(constant) > file_size) {
        return Err(invalid("stsz", "more samples than the file can hold"));
    }
    let mut samples = Vec::with_capacity(count as usize);
    place_samples(stbl, count, file_size, &mut samples)?;
    time_samples(stbl, &mut samples);
    mark_sync(stbl, &mut samples);
    Ok(TrackSamples { timescale, samples })
}

/// Offsets and sizes: chunk offsets (`stco`/`co64`), samples per chunk (`stsc`), sizes.
fn place_samples(
    stbl: &Stbl,
    count: u64,
    file_size: u64,
    out: &mut Vec<TrackSample>,
) -> Result<(), MediaError> {
    let chunks = &stbl.stco.chunk_offset;
    let runs = &stbl.stsc.entries;
    for (i, run) in runs.iter().enumerate() {
        if run.first_chunk == 0 || (i > 0 && run.first_chunk <= runs[i - 1].first_chunk) {
            return Err(invalid("stsc", "first_chunk is zero or not increasing"));
        }
        let first = run.first_chunk as usize - 1;
        let end = (runs.get(i + 1))
            .map_or(chunks.len(), |next| next.first_chunk as usize - 1)
            .min(chunks.len());
        for &chunk_offset in chunks.get(first..end).unwrap_or(&[]) {
            let mut offset = chunk_offset;
            for _ in 0..run.samples_per_chunk {
                if out.len() as u64 == count {
                    return Ok(());
                }
                let size = (stbl.stsz.size_of(out.len() as u32))
                    .ok_or_else(|| invalid("stsz", "fewer sizes than samples"))?;
                if size > MAX_SAMPLE_BYTES {
                    return Err(invalid("stsz", "a sample is too large for frame mode"));
                }
                let end = offset.checked_add(u64::from(size));
                if end.is_none_or(|e| e > file_size) {
                    return Err(invalid("stco", "a sample lies past the end of the file"));
                }
                out.push(TrackSample {
                    offset,
                    size,
                    decode_time: 0,
                    duration: 0,
                    sync: false,
                });
                offset += u64::from(size);
            }
        }
    }
    if (out.len() as u64) < count {
        return Err(invalid(
            "stsc",
            "chunks hold fewer samples than stsz counts",
        ));
    }
    Ok(())
}

/// Decode times and durations from `stts`; samples past its end take its last delta.
fn time_samples(stbl: &Stbl, samples: &mut [TrackSample]) {
    let mut deltas = (stbl.stts.entries.iter())
        .flat_map(|e| std::iter::repeat_n(e.sample_delta, e.sample_count as usize));
    let mut time = 0u64;
    let mut last = 0u32;
    for s in samples.iter_mut() {
        last = deltas.next().unwrap_or(last);
        s.decode_time = time;
        s.duration = last;
        time = time.saturating_add(u64::from(last));
    }
}

/// Sync samples from `stss` (every sample without one).
fn mark_sync(stbl: &Stbl, samples: &mut [TrackSample]) {
    match &stbl.stss {
        Some(stss) => {
            for &n in &stss.sample_number {
                if let Some(s) = (n as usize).checked_sub(1).and_then(|i| samples.get_mut(i)) {
                    s.sync = true;
                }
            }
        }
        None => samples.iter_mut().for_each(|s| s.sync = true),
    }
}

fn invalid(kind: &str, reason: &str) -> MediaError {
    MediaError::MalformedBox {
        kind: kind.to_string(),
        reason: reason.to_string(),
    }
}

/// Rewrites a sample whose NAL units carry 4-byte big-endian lengths into Annex-B in place:
/// each length becomes the start code `00 00 00 01` (same size). A length running past the
/// sample's end is an error and leaves the rest as it is.
pub fn avcc_to_annexb_in_place(sample: &mut [u8]) -> Result<(), MediaError> {
    let mut pos = 0usize;
    while pos < sample.len() {
        let Some(head) = sample.get(pos..pos + 4) else {
            return Err(MediaError::InvalidMp4("truncated NAL unit length".into()));
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let end = (pos + 4)
            .checked_add(len)
            .filter(|&e| e <= sample.len())
            .ok_or_else(|| MediaError::InvalidMp4("NAL unit runs past its sample".into()))?;
        sample[pos..pos + 4].copy_from_slice(&[0, 0, 0, 1]);
        pos = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::path::Path;

    fn av() -> File {
        File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos/av.mp4")).unwrap()
    }

    #[test]
    fn av_mp4_has_ffprobes_sample_counts_and_an_aac_config() {
        let demux = read_mp4_demux(&mut av()).unwrap();
        // ffprobe: 180 video packets (6 s at 30 fps), 283 AAC packets at 48 kHz stereo.
        assert_eq!(demux.video.samples.len(), 180);
        let (audio, aac) = demux.audio.as_ref().unwrap();
        assert_eq!(audio.samples.len(), 283);
        assert_eq!((aac.sample_rate, aac.channels), (48000, 2));
        // AAC LC (object type 2), 48 kHz (index 3), 2 channels: 0x11 0x90.
        assert_eq!(&aac.audio_specific_config[..2], &[0x11, 0x90]);
        // stts: 282 frames of 1024 samples, then the last one of 256 (ffprobe's durations).
        assert!(audio.samples[..282].iter().all(|s| s.duration == 1024));
        assert_eq!(audio.samples[282].duration, 256);
        assert_eq!(demux.avc.nal_length_size, 4);
        assert_eq!((demux.avc.sps.len(), demux.avc.pps.len()), (1, 1));
        let syncs: Vec<usize> = (demux.video.samples.iter().enumerate())
            .filter(|(_, s)| s.sync)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(syncs, [0, 30, 60, 90, 120, 150]);
        // The keyframe at 2.0 s sits at byte 207326 (ffprobe).
        assert_eq!(demux.video.samples[60].offset, 207326);
    }

    #[test]
    fn lengths_become_start_codes() {
        let mut sample = vec![0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x06];
        avcc_to_annexb_in_place(&mut sample).unwrap();
        assert_eq!(sample, [0, 0, 0, 1, 0x65, 1, 0, 0, 0, 1, 0x06]);
        let mut bad = vec![0, 0, 0, 9, 0x65];
        assert!(avcc_to_annexb_in_place(&mut bad).is_err());
        let mut short = vec![0, 0, 0, 1, 0x65, 0, 0];
        assert!(avcc_to_annexb_in_place(&mut short).is_err());
    }
}
