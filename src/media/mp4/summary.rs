//! From decoded boxes to [`Mp4Info`]: pick the first video and audio tracks, name their
//! codecs, derive frame rate and bit rate, and build the video seek table.

use super::atom::Strictness;
use super::moov::trak::stbl::stsd::{codec_name, SampleEntry};
use super::moov::trak::{Hdlr, Trak};
use super::moov::{seconds, Moov};
use super::seek_table::{sync_indices, sync_samples, TrackTiming};
use super::{AudioTrackInfo, Mp4Info, VideoTrackInfo};
use crate::media::MediaError;

/// Builds the summary of a decoded `moov` for a file of `file_size` bytes.
pub(crate) fn summarize(
    moov: &Moov,
    file_size: u64,
    strictness: Strictness,
) -> Result<Mp4Info, MediaError> {
    let duration = seconds(moov.mvhd.duration, moov.mvhd.timescale)
        .or_else(|| {
            moov.trak
                .iter()
                .filter_map(|t| seconds(t.mdia.mdhd.duration, t.mdia.mdhd.timescale))
                .reduce(f64::max)
        })
        .unwrap_or(0.0);
    let video_trak = first_track(moov, Hdlr::VIDEO);
    let audio_trak = first_track(moov, Hdlr::AUDIO);
    let video = video_trak.map(|t| video_info(t, strictness)).transpose()?;
    let audio = audio_trak.map(audio_info).transpose()?;
    let sync_samples = match video_trak {
        Some(trak) => {
            let timing = TrackTiming {
                timescale: trak.mdia.mdhd.timescale,
                presentation_shift: trak
                    .edts
                    .as_ref()
                    .and_then(|e| e.elst.as_ref())
                    .map_or(0.0, |elst| {
                        elst.presentation_shift(moov.mvhd.timescale, trak.mdia.mdhd.timescale)
                    }),
            };
            sync_samples(&trak.mdia.minf.stbl, timing, file_size)?
        }
        None => Vec::new(),
    };
    let video_sync_indices = match video_trak {
        Some(trak) => {
            let stbl = &trak.mdia.minf.stbl;
            sync_indices(stbl, stbl.stsz.sample_count)?
        }
        None => Vec::new(),
    };
    let bit_rate = (duration > 0.0).then(|| (file_size as f64 * 8.0 / duration).round() as u64);
    Ok(Mp4Info {
        duration,
        video,
        audio,
        bit_rate,
        sync_samples,
        video_sync_indices,
    })
}

fn first_track(moov: &Moov, handler: crate::media::mp4::FourCC) -> Option<&Trak> {
    moov.trak
        .iter()
        .find(|t| t.mdia.hdlr.handler_type == handler)
}

fn first_entry(trak: &Trak) -> Result<&SampleEntry, MediaError> {
    trak.mdia
        .minf
        .stbl
        .stsd
        .entries
        .first()
        .ok_or_else(|| MediaError::MalformedBox {
            kind: "stsd".into(),
            reason: "no sample entry".into(),
        })
}

fn video_info(trak: &Trak, strictness: Strictness) -> Result<VideoTrackInfo, MediaError> {
    let entry = first_entry(trak)?;
    let visual = entry.visual(strictness)?;
    let stbl = &trak.mdia.minf.stbl;
    let frame_count = u64::from(stbl.stsz.sample_count);
    let total = stbl.stts.total_duration();
    let timescale = trak.mdia.mdhd.timescale;
    let frame_rate = (total > 0 && frame_count > 0 && timescale > 0)
        .then(|| frame_count as f64 * f64::from(timescale) / total as f64);
    let pick = |coded: u16, header: u32| if coded > 0 { u32::from(coded) } else { header };
    Ok(VideoTrackInfo {
        width: pick(visual.width, trak.tkhd.width),
        height: pick(visual.height, trak.tkhd.height),
        codec: codec_name(entry.format, None),
        frame_rate,
        frame_count,
        profile: visual.avcc.map(|a| a.profile_name()),
        level: visual.avcc.map(|a| a.level_name()),
    })
}

fn audio_info(trak: &Trak) -> Result<AudioTrackInfo, MediaError> {
    let entry = first_entry(trak)?;
    let audio = entry.audio()?;
    // Rates above 65535 Hz do not fit the 16.16 field; the media timescale is the rate then.
    let sample_rate = if audio.samplerate >= 1.0 && audio.samplerate <= f64::from(u32::MAX) {
        audio.samplerate as u32
    } else {
        trak.mdia.mdhd.timescale
    };
    Ok(AudioTrackInfo {
        codec: codec_name(entry.format, audio.object_type_indication),
        sample_rate,
        channels: audio.channelcount,
    })
}
