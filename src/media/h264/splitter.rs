//! [`AccessUnitSplitter`]: bytes of an Annex-B stream in, [`AccessUnit`]s out.

use super::annexb::AnnexBScanner;
use super::assembler::Assembler;
use super::info::StreamInfo;
use super::AccessUnit;

/// Counted oddities of a stream: malformed input is reported here, never only logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// NAL units found.
    pub nal_units: u64,
    /// Access units reported.
    pub access_units: u64,
    /// Bytes before the first start code (kept in the first access unit).
    pub leading_bytes: u64,
    /// NAL units that are empty or have `forbidden_zero_bit` set.
    pub malformed_nal_units: u64,
    /// SPS or PPS that could not be parsed (or were too long to keep).
    pub parameter_set_errors: u64,
    /// Slices (with `first_mb_in_slice != 0`) whose header, or the previous slice's, could
    /// not be read as far as §7.4.1.2.4 needs (unknown PPS/SPS, truncated): their picture
    /// boundary was decided on IDR and reference changes only.
    pub partial_slice_headers: u64,
    /// Slices of redundant coded pictures (`redundant_pic_cnt > 0`), kept in the access
    /// unit of their primary picture.
    pub redundant_slices: u64,
    /// SPS whose picture size or DPB size exceeds its level's limits: parsed leniently,
    /// values kept (D71).
    pub level_exceeded_sps: u64,
}

/// Splits an H.264 Annex-B byte stream into access units, in bounded memory.
///
/// A push parser: give it the stream's bytes with [`push`](Self::push) in chunks of any
/// size, call [`finish`](Self::finish) after the last one, and drain
/// [`poll_access_unit`](Self::poll_access_unit) after each call. The access units come
/// out in stream order, and they are the same however the input was chunked. They
/// partition the stream: the first starts at offset 0, each ends where the next begins,
/// and the last ends at the end of the stream (see the [module docs](super) for where a
/// start code's bytes go).
///
/// An access unit is reported once the first NAL unit of the next one has been read
/// whole (or its prefix, for long units), so the splitter holds at most a few KiB.
///
/// Access units are delimited per H.264 §7.4.1.2.3: an access unit delimiter, SEI, SPS,
/// PPS or NAL unit of type 14-18 that follows a picture's slices opens a new one, and so
/// does a slice that starts a new primary coded picture (§7.4.1.2.4: the slice-header
/// fields compared there, whatever order the slices of a picture come in; slices of
/// redundant pictures stay with their primary picture). Non-VCL units seen before
/// any slice stay with the picture that follows, so every access unit but possibly the
/// last holds a picture.
#[derive(Debug)]
pub struct AccessUnitSplitter {
    scanner: AnnexBScanner,
    assembler: Assembler,
    finished: bool,
}

impl Default for AccessUnitSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl AccessUnitSplitter {
    /// A splitter at the start of a stream.
    pub fn new() -> Self {
        AccessUnitSplitter {
            scanner: AnnexBScanner::new(),
            assembler: Assembler::new(),
            finished: false,
        }
    }

    /// Reads the next chunk of the stream. Ignored after [`finish`](Self::finish).
    pub fn push(&mut self, chunk: &[u8]) {
        if self.finished {
            return;
        }
        let assembler = &mut self.assembler;
        self.scanner
            .push(chunk, &mut |nal| assembler.handle_nal(nal));
    }

    /// Ends the stream: the last access unit becomes available to poll.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let assembler = &mut self.assembler;
        self.scanner.finish(&mut |nal| assembler.handle_nal(nal));
        let end = self.scanner.position();
        self.assembler.stats.leading_bytes = self.scanner.first_start().unwrap_or(end);
        self.assembler.finish(end);
    }

    /// The next complete access unit, if any.
    #[must_use]
    pub fn poll_access_unit(&mut self) -> Option<AccessUnit> {
        self.assembler.poll()
    }

    /// What the first valid SPS says about the stream, once it has been read.
    pub fn stream_info(&self) -> Option<&StreamInfo> {
        self.assembler.stream_info()
    }

    /// Counts of what was found so far (`leading_bytes` is set by [`finish`](Self::finish)).
    pub fn stats(&self) -> ScanStats {
        self.assembler.stats
    }

    /// Bytes pushed so far.
    pub fn position(&self) -> u64 {
        self.scanner.position()
    }
}
