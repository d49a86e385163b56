//! [`H264Fmp4Muxer`]: Annex-B bytes in, a fragmented MP4 out (see the [module docs](super)).

use super::boxes::{fragment, init_segment, SampleEntry, VideoTrack, TIMESCALE};
use crate::media::h264::slice::SliceKey;
use crate::media::h264::sps::parse_sps;
use crate::media::h264::{AccessUnit, AccessUnitSplitter, StreamInfo};
use h264_reader::nal::pps::PicParameterSet;
use h264_reader::nal::sps::PicOrderCntType;
use h264_reader::rbsp::{BitReader, ByteReader};
use h264_reader::Context;
use std::io::{self, Seek, SeekFrom, Write};

/// How fragments are cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fmp4Options {
    /// A GOP longer than this (seconds) is cut into fragments of about this length.
    pub fragment_secs: f64,
    /// A fragment is written once its sample data reaches this many bytes, whatever its
    /// length in time: the memory bound of the muxer (default 32 MiB).
    pub max_fragment_bytes: usize,
}

impl Default for Fmp4Options {
    fn default() -> Self {
        Fmp4Options {
            fragment_secs: 1.0,
            max_fragment_bytes: 32 * 1024 * 1024,
        }
    }
}

/// What a muxer wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fmp4Stats {
    /// Samples (access units holding a picture) written.
    pub samples: u64,
    /// Fragments written.
    pub fragments: u64,
    /// Access units with a picture before the first IDR (or before its SPS/PPS): dropped.
    pub dropped_before_idr: u64,
}

/// One sample of the fragment being built.
#[derive(Debug, Clone, Copy)]
struct PendingSample {
    size: u32,
    poc: i64,
    sync: bool,
}

/// Picture order count state (H.264 8.2.1.1, pic_order_cnt_type 0).
#[derive(Debug, Default)]
struct PocState {
    /// `log2_max_pic_order_cnt_lsb` when the SPS uses POC type 0.
    lsb_bits: Option<u32>,
    prev_ref_msb: i64,
    prev_ref_lsb: i64,
    /// Pictures since the last IDR (the POC of types 1 and 2, which present in decode order).
    decoded: i64,
}

impl PocState {
    fn next(&mut self, key: &SliceKey, idr: bool) -> i64 {
        if idr {
            *self = PocState {
                lsb_bits: self.lsb_bits,
                ..PocState::default()
            };
        }
        self.decoded += 1;
        let (Some(bits), Some(lsb)) = (self.lsb_bits, key.pic_order_cnt_lsb()) else {
            return self.decoded;
        };
        let max = 1i64 << bits;
        let lsb = i64::from(lsb);
        let (prev_msb, prev_lsb) = (self.prev_ref_msb, self.prev_ref_lsb);
        let msb = if lsb < prev_lsb && prev_lsb - lsb >= max / 2 {
            prev_msb + max
        } else if lsb > prev_lsb && lsb - prev_lsb > max / 2 {
            prev_msb - max
        } else {
            prev_msb
        };
        if !key.non_reference {
            self.prev_ref_msb = msb;
            self.prev_ref_lsb = lsb;
        }
        msb + lsb
    }
}

/// Writes an H.264 Annex-B stream as a fragmented MP4, fragment by fragment.
///
/// Memory: the access unit being assembled and one fragment's sample data (at most
/// [`Fmp4Options::max_fragment_bytes`] plus one access unit).
#[derive(Debug)]
pub struct H264Fmp4Muxer<W: Write + Seek> {
    out: W,
    /// Bytes written so far (the output's end).
    written: u64,
    opts: Fmp4Options,
    splitter: AccessUnitSplitter,
    /// Stream bytes from `pending_base` on that belong to access units not yet taken.
    pending: Vec<u8>,
    pending_base: u64,
    /// Stream offset up to which access units were taken (`pending` is compacted to it).
    consumed: u64,
    ctx: Context,
    track: Option<VideoTrack>,
    initialized: bool,
    sample_duration: u32,
    poc: PocState,
    samples: Vec<PendingSample>,
    data: Vec<u8>,
    max_poc: i64,
    next_decode_time: u64,
    sequence: u32,
    stats: Fmp4Stats,
}

impl<W: Write + Seek> H264Fmp4Muxer<W> {
    /// A muxer writing to `out` from its current end (wrap a file in a `BufWriter`: each
    /// fragment is flushed; a seek back commits it, see [`Self::push`]).
    pub fn new(out: W, opts: Fmp4Options) -> Self {
        H264Fmp4Muxer {
            out,
            written: 0,
            opts,
            splitter: AccessUnitSplitter::new(),
            pending: Vec::new(),
            pending_base: 0,
            consumed: 0,
            ctx: Context::new(),
            track: None,
            initialized: false,
            sample_duration: frame_ticks(crate::media::h264::DEFAULT_FRAME_RATE),
            poc: PocState::default(),
            samples: Vec::new(),
            data: Vec::new(),
            max_poc: i64::MIN,
            next_decode_time: 0,
            sequence: 1,
            stats: Fmp4Stats::default(),
        }
    }

    /// Takes the next bytes of the stream.
    ///
    /// # Errors
    /// Only the output's write errors: bad input is dropped or kept as it is, never an error.
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        self.splitter.push(bytes);
        let mut taken = Ok(());
        while let Some(unit) = self.splitter.poll_access_unit() {
            taken = taken.and(self.take_unit(unit));
        }
        self.compact();
        taken
    }

    /// Drops the bytes of the access units already taken (once per push, not per unit).
    fn compact(&mut self) {
        let used = usize::try_from(self.consumed - self.pending_base)
            .unwrap_or(self.pending.len())
            .min(self.pending.len());
        self.pending.drain(..used);
        self.pending_base += used as u64;
    }

    /// Ends the current run of the stream and restarts the timeline at `time` seconds: the
    /// bytes pushed next are a new run starting with an IDR (a seek). The current fragment
    /// is written first.
    pub fn seek_to(&mut self, time: f64) -> io::Result<()> {
        self.end_run()?;
        let ticks = (time.max(0.0) * f64::from(TIMESCALE)).round();
        self.next_decode_time = if ticks.is_finite() { ticks as u64 } else { 0 };
        Ok(())
    }

    /// Writes what is left and returns the output (flushed, not synced) and the counts.
    pub fn finish(mut self) -> io::Result<(W, Fmp4Stats)> {
        self.end_run()?;
        self.out.flush()?;
        Ok((self.out, self.stats))
    }

    /// Counts so far.
    pub fn stats(&self) -> Fmp4Stats {
        self.stats
    }

    fn end_run(&mut self) -> io::Result<()> {
        self.splitter.finish();
        while let Some(unit) = self.splitter.poll_access_unit() {
            self.take_unit(unit)?;
        }
        self.write_fragment()?;
        self.splitter = AccessUnitSplitter::new();
        self.pending.clear();
        self.pending_base = 0;
        self.consumed = 0;
        Ok(())
    }

    fn take_unit(&mut self, unit: AccessUnit) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let start = usize::try_from(unit.offset.saturating_sub(self.pending_base)).unwrap_or(0);
        let end = usize::try_from(unit.len)
            .map_or(pending.len(), |len| start.saturating_add(len))
            .min(pending.len());
        let start = start.min(end);
        let result = self.access_unit(&pending[start..end], &unit);
        self.pending = pending;
        self.consumed = self.pending_base + end as u64;
        result
    }

    fn access_unit(&mut self, au: &[u8], unit: &AccessUnit) -> io::Result<()> {
        let mut first_slice = None;
        for nal in nal_units(au) {
            match nal.first().map(|h| h & 0x1f) {
                Some(7) => self.read_sps(nal),
                Some(8) => self.read_pps(nal),
                Some(1 | 5) if first_slice.is_none() => {
                    first_slice = Some(SliceKey::parse(nal, &self.ctx));
                }
                _ => {}
            }
        }
        let (Some(key), true) = (first_slice, unit.has_picture()) else {
            return Ok(()); // parameter sets or bytes after the last picture
        };
        let idr = unit.is_idr();
        if !self.initialized && (!idr || !self.write_init()?) {
            self.stats.dropped_before_idr += 1;
            return Ok(());
        }
        let poc = self.poc.next(&key, idr);
        let elapsed = u64::from(self.sample_duration) * self.samples.len() as u64;
        let long = elapsed as f64 >= self.opts.fragment_secs * f64::from(TIMESCALE);
        if !self.samples.is_empty()
            && (idr
                || (long && poc > self.max_poc)
                || self.data.len() >= self.opts.max_fragment_bytes)
        {
            self.write_fragment()?;
        }
        // The sample: each NAL unit with a 4-byte length (access unit delimiters dropped:
        // the sample's bounds say it).
        let start = self.data.len();
        for nal in nal_units(au).filter(|n| n.first().is_some_and(|h| h & 0x1f != 9)) {
            let len = u32::try_from(nal.len()).unwrap_or(u32::MAX);
            self.data.extend_from_slice(&len.to_be_bytes());
            self.data.extend_from_slice(nal);
        }
        self.max_poc = self.max_poc.max(poc);
        self.samples.push(PendingSample {
            size: u32::try_from(self.data.len() - start).unwrap_or(u32::MAX),
            poc,
            sync: idr,
        });
        Ok(())
    }

    /// Writes `ftyp` and `moov` once the first SPS and PPS are known; false before that.
    fn write_init(&mut self) -> io::Result<bool> {
        let Some(track) = &self.track.as_ref().filter(|t| !t.pps.is_empty()) else {
            return Ok(false);
        };
        let init = init_segment(track);
        self.out.write_all(&init)?;
        self.out.flush()?;
        self.written += init.len() as u64;
        self.initialized = true;
        Ok(true)
    }

    /// Writes the fragment being built (nothing if it is empty).
    fn write_fragment(&mut self) -> io::Result<()> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let mut order: Vec<usize> = (0..self.samples.len()).collect();
        order.sort_by_key(|&i| self.samples[i].poc);
        let mut rank = vec![0i64; order.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as i64;
        }
        let dur = self.sample_duration;
        let entries: Vec<SampleEntry> = (self.samples.iter().enumerate())
            .map(|(i, s)| SampleEntry {
                duration: dur,
                size: s.size,
                sync: s.sync,
                composition_offset: i32::try_from((rank[i] - i as i64) * i64::from(dur))
                    .unwrap_or(0),
            })
            .collect();
        let (mdat_header, moof) = fragment(
            self.sequence,
            self.next_decode_time,
            &entries,
            self.data.len() as u64,
        );
        // The sample data first, then the moof that describes it, written as a `free` box
        // and turned into a `moof` by a 4-byte write once it is whole (D74): whatever
        // instant the file is cut at, it ends in complete fragments followed by bytes that
        // no moof refers to (a partial mdat, a partial or whole `free`).
        let moof_at = self.written + mdat_header.len() as u64 + self.data.len() as u64;
        let mut moof = moof;
        moof[4..8].copy_from_slice(b"free");
        self.out.write_all(&mdat_header)?;
        self.out.write_all(&self.data)?;
        self.out.write_all(&moof)?;
        self.out.flush()?;
        self.out.seek(SeekFrom::Start(moof_at + 4))?;
        self.out.write_all(b"moof")?;
        self.written = moof_at + moof.len() as u64;
        self.out.seek(SeekFrom::Start(self.written))?;
        self.out.flush()?;
        self.next_decode_time += u64::from(dur) * entries.len() as u64;
        self.sequence = self.sequence.wrapping_add(1);
        self.stats.samples += entries.len() as u64;
        self.stats.fragments += 1;
        self.samples.clear();
        self.data.clear();
        self.max_poc = i64::MIN;
        Ok(())
    }

    fn read_sps(&mut self, nal: &[u8]) {
        let Ok(parsed) = parse_sps(nal) else { return };
        let sps = parsed.sps;
        if self.track.is_none() {
            if let Some(info) = StreamInfo::from_sps(&sps) {
                self.sample_duration = frame_ticks(info.frame_rate());
                self.poc.lsb_bits = match sps.pic_order_cnt {
                    PicOrderCntType::TypeZero {
                        log2_max_pic_order_cnt_lsb_minus4,
                    } => Some(u32::from(log2_max_pic_order_cnt_lsb_minus4) + 4),
                    _ => None,
                };
                self.track = Some(VideoTrack {
                    width: info.width,
                    height: info.height,
                    sps: nal.to_vec(),
                    pps: Vec::new(),
                    chroma_format_idc: info.chroma_format_idc,
                    bit_depth_luma: info.bit_depth_luma,
                    bit_depth_chroma: info.bit_depth_chroma,
                });
            }
        }
        self.ctx.put_seq_param_set(sps);
    }

    fn read_pps(&mut self, nal: &[u8]) {
        let reader = BitReader::new(ByteReader::skipping_h264_header(nal));
        if let Ok(pps) = PicParameterSet::from_bits(&self.ctx, reader) {
            self.ctx.put_pic_param_set(pps);
            if let Some(track) = self.track.as_mut().filter(|t| t.pps.is_empty()) {
                track.pps = nal.to_vec();
            }
        }
    }
}

/// Ticks of one frame at `fps` (at least 1).
fn frame_ticks(fps: f64) -> u32 {
    let ticks = (f64::from(TIMESCALE) / fps).round();
    if ticks.is_finite() && ticks >= 1.0 && ticks <= f64::from(u32::MAX) {
        ticks as u32
    } else {
        1
    }
}

/// The NAL units of an access unit's bytes: after each start code, up to the next one, with
/// trailing zero bytes (and the next 4-byte start code's first zero) removed.
fn nal_units(au: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = memchr::memmem::find_iter(au, &[0, 0, 1])
        .map(|p| p + 3)
        .peekable();
    std::iter::from_fn(move || {
        let start = starts.next()?;
        let end = starts.peek().map_or(au.len(), |&next| next - 3);
        let mut nal = &au[start..end.max(start)];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        Some(nal)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nal_units_drop_start_codes_and_trailing_zeros() {
        let au = [
            9, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4,
        ];
        let nals: Vec<&[u8]> = nal_units(&au).collect();
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4]]);
    }

    #[test]
    fn frame_durations_are_whole_ticks_at_common_rates() {
        assert_eq!(frame_ticks(25.0), 3600);
        assert_eq!(frame_ticks(30000.0 / 1001.0), 3003);
        assert_eq!(frame_ticks(24.0), 3750);
        assert_eq!(frame_ticks(0.0), 1);
        assert_eq!(frame_ticks(f64::NAN), 1);
    }
}
