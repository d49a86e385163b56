//! MP4 frame mode (docs/protocol.md D77): one segment per sample of the video and AAC
//! tracks, interleaved in decode-time order.
//!
//! A video sample goes as a video segment: its NAL units with start codes in place of
//! their 4-byte lengths (same size), after the `avcC` parameter sets in Annex-B when it is
//! a sync sample, so every segment from a keyframe on decodes alone. An AAC sample goes as
//! an audio segment (43-byte header: sample rate, channels), its bytes as stored (raw AAC,
//! no ADTS); the platform learns the AudioSpecificConfig from the acknowledgement's
//! `demuxed` field. At equal decode times video comes first. Seeks restart at video sync
//! samples; the audio samples after them in the order follow.

use super::{PlannedSegment, SegmentContent};
use crate::media::mp4::{AacConfig, Mp4Demux, TrackSamples};
use crate::wire::{DemuxedAudio, DemuxedSource, SegmentFlags};
use std::sync::Arc;

/// One sample in send order: 32 bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: u64,
    time: f64,
    duration: f64,
    size: u32,
    /// 0 video, 1 video sync sample, 2 audio.
    kind: u8,
}

const VIDEO: u8 = 0;
const VIDEO_SYNC: u8 = 1;
const AUDIO: u8 = 2;

/// The samples of an MP4 in frame mode.
#[derive(Debug, Clone)]
pub(crate) struct SampleLayout {
    entries: Vec<Entry>,
    parameter_sets: Arc<[u8]>,
    audio: Option<AacConfig>,
    video_samples: u64,
    audio_samples: u64,
    /// 0-based video sample indices of the sync samples.
    pub(crate) keyframes: Vec<u64>,
    /// (decode time, segment index) of every video sync sample.
    pub(crate) restart_points: Vec<(f64, u32)>,
    pub(crate) frame_rate: Option<f64>,
}

fn seconds(ticks: u64, timescale: u32) -> f64 {
    ticks as f64 / f64::from(timescale)
}

impl SampleLayout {
    pub(crate) fn new(demux: Mp4Demux) -> Option<SampleLayout> {
        let video = &demux.video;
        let audio = demux.audio.as_ref().map(|(s, _)| s);
        let total = video.samples.len() + audio.map_or(0, |a| a.samples.len());
        if video.samples.is_empty() || u32::try_from(total).is_err() {
            return None;
        }
        let mut entries = Vec::with_capacity(total);
        push_track(&mut entries, video, |s| if s { VIDEO_SYNC } else { VIDEO });
        if let Some(audio) = audio {
            push_track(&mut entries, audio, |_| AUDIO);
        }
        // Stable: each track keeps its decode order; video before audio at equal times.
        entries.sort_by(|a, b| {
            a.time
                .total_cmp(&b.time)
                .then(a.kind.min(1).cmp(&b.kind.min(1)))
        });
        let mut keyframes = Vec::new();
        let mut restart_points = Vec::new();
        let mut video_index = 0u64;
        for (i, e) in entries.iter().enumerate() {
            if e.kind == VIDEO_SYNC {
                keyframes.push(video_index);
                restart_points.push((e.time, i as u32));
            }
            if e.kind != AUDIO {
                video_index += 1;
            }
        }
        let span = video
            .samples
            .last()
            .map_or(0, |s| s.decode_time + u64::from(s.duration));
        let frame_rate =
            (span > 0).then(|| video.samples.len() as f64 / seconds(span, video.timescale));
        entries.shrink_to_fit();
        Some(SampleLayout {
            entries,
            parameter_sets: demux.avc.annexb_parameter_sets().into(),
            audio_samples: audio.map_or(0, |a| a.samples.len() as u64),
            audio: demux.audio.map(|(_, config)| config),
            video_samples: video.samples.len() as u64,
            keyframes,
            restart_points,
            frame_rate,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn video_samples(&self) -> u64 {
        self.video_samples
    }

    /// The media's end: the latest sample end.
    pub(crate) fn duration(&self) -> f64 {
        (self.entries.iter())
            .map(|e| e.time + e.duration)
            .fold(0.0, f64::max)
    }

    /// The Annex-B parameter sets put before every sync sample.
    pub(crate) fn parameter_sets(&self) -> &Arc<[u8]> {
        &self.parameter_sets
    }

    pub(crate) fn segment(&self, index: u32) -> Option<PlannedSegment> {
        let e = self.entries.get(index as usize)?;
        let (content, len, flags, frame_count) = match e.kind {
            AUDIO => {
                let (sample_rate, channels) = self
                    .audio
                    .as_ref()
                    .map_or((0, 0), |a| (a.sample_rate, a.channels));
                let content = SegmentContent::AacFrame {
                    sample_rate,
                    channels,
                };
                (content, u64::from(e.size), SegmentFlags::empty(), 0)
            }
            kind => {
                let sync = kind == VIDEO_SYNC;
                let prefix = if sync { self.parameter_sets.len() } else { 0 } as u64;
                let flags = if sync {
                    SegmentFlags::KEYFRAME
                        | SegmentFlags::SPS
                        | SegmentFlags::PPS
                        | SegmentFlags::IDR
                } else {
                    SegmentFlags::empty()
                };
                let content = SegmentContent::AvcSample {
                    file_len: u64::from(e.size),
                    with_parameter_sets: sync,
                };
                (content, prefix + u64::from(e.size), flags, 1)
            }
        };
        Some(PlannedSegment {
            index,
            offset: e.offset,
            len,
            timestamp: e.time,
            duration: e.duration,
            frame_count,
            flags,
            frame_type: None,
            content,
        })
    }

    /// What the acknowledgement says about the demuxed tracks (`demuxed`, D77).
    pub(crate) fn demuxed(&self) -> DemuxedSource {
        DemuxedSource {
            container: "mp4".to_string(),
            video_samples: self.video_samples,
            audio: self.audio.as_ref().map(|a| DemuxedAudio {
                codec: "aac".to_string(),
                config: DemuxedAudio::encode_config(&a.audio_specific_config),
                sample_rate: a.sample_rate,
                channels: a.channels,
                samples: self.audio_samples,
            }),
        }
    }
}

fn push_track(entries: &mut Vec<Entry>, track: &TrackSamples, kind: impl Fn(bool) -> u8) {
    for s in &track.samples {
        entries.push(Entry {
            offset: s.offset,
            time: seconds(s.decode_time, track.timescale),
            duration: seconds(u64::from(s.duration), track.timescale),
            size: s.size,
            kind: kind(s.sync),
        });
    }
}
