//! The Annex-B start-code scanner: where each NAL unit of a byte stream begins and ends.
//!
//! [`AnnexBScanner`] is a push parser: feed it chunks of any size with
//! [`push`](AnnexBScanner::push), then call [`finish`](AnnexBScanner::finish) once. Each
//! NAL unit is reported, once its end is known, as a [`NalUnit`]: its absolute byte range
//! and a short prefix of its bytes (enough to parse a NAL header, a slice header's first
//! fields, or a whole SPS/PPS). The bytes of a unit are never kept beyond that prefix.
//!
//! The hot path is `memchr::memmem` looking for `00 00 01`; only the up to three bytes
//! around a chunk boundary are checked by hand, so a start code split across two pushes is
//! found exactly as if the stream had been pushed in one piece. Output never depends on
//! how the input is chunked.
//!
//! # Format
//! ```text
//! [leading bytes] [00] 00 00 01 <nal header> <payload ...> [00 ...] [00] 00 00 01 <nal header> ...
//!                 ^ start (zero_byte counted with the unit it introduces)
//! ```

use memchr::memmem::Finder;

/// How many bytes of an SPS, PPS or subset SPS the scanner keeps (they are parsed whole).
pub const PARAMETER_SET_PREFIX_LEN: usize = 4096;
/// How many bytes of any other NAL unit the scanner keeps (header byte + slice header start).
pub const NAL_PREFIX_LEN: usize = 64;

/// One NAL unit found in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalUnit<'a> {
    /// Offset of its start code: the `zero_byte` of a 4-byte start code, else the first `00`.
    pub start: u64,
    /// Offset of its header byte (just after `00 00 01`).
    pub header: u64,
    /// Offset where the next NAL unit starts, or the end of the stream.
    pub end: u64,
    /// Its first bytes from the header byte on: the whole unit (trailing zero bytes removed)
    /// when [`complete`](Self::complete), else the first [`NAL_PREFIX_LEN`] or
    /// [`PARAMETER_SET_PREFIX_LEN`] bytes.
    pub prefix: &'a [u8],
    /// True when `prefix` holds the whole unit.
    pub complete: bool,
}

/// Splits an Annex-B byte stream into NAL units, whatever the chunking of the input.
#[derive(Debug)]
pub struct AnnexBScanner {
    finder: Finder<'static>,
    /// Bytes pushed so far (absolute offset of the next chunk's first byte).
    pos: u64,
    /// The last up to 3 bytes pushed, right-aligned: `hist[2]` is the byte at `pos - 1`.
    hist: [u8; 3],
    hist_len: usize,
    /// `(start, header)` of the NAL unit being read, if a start code has been seen.
    current: Option<(u64, u64)>,
    /// Offset of the first start code.
    first_start: Option<u64>,
    /// The current unit's prefix (may also hold the next start code's first bytes).
    prefix: Vec<u8>,
}

impl Default for AnnexBScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl AnnexBScanner {
    /// A scanner at the start of a stream.
    pub fn new() -> Self {
        AnnexBScanner {
            finder: Finder::new(b"\x00\x00\x01"),
            pos: 0,
            hist: [0; 3],
            hist_len: 0,
            current: None,
            first_start: None,
            prefix: Vec::with_capacity(NAL_PREFIX_LEN),
        }
    }

    /// Bytes pushed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Offset of the first start code, once one has been seen.
    pub fn first_start(&self) -> Option<u64> {
        self.first_start
    }

    /// Scans the next chunk of the stream, calling `on_nal` for each NAL unit that ends in it.
    pub fn push(&mut self, chunk: &[u8], on_nal: &mut impl FnMut(NalUnit<'_>)) {
        if chunk.is_empty() {
            return;
        }
        // Index in `chunk` of the first byte not yet given to the current unit's prefix.
        let mut taken = 0;
        // A start code straddling the previous chunk: its `01` is at chunk index 0 or 1.
        let at = |i: isize| self.byte_at(chunk, i);
        let junction = if chunk[0] == 1 && at(-1) == Some(0) && at(-2) == Some(0) {
            Some(1)
        } else if chunk.len() >= 2 && chunk[0] == 0 && chunk[1] == 1 && at(-1) == Some(0) {
            Some(2)
        } else {
            None
        };
        if let Some(header_idx) = junction {
            self.start_code(chunk, taken, header_idx, on_nal);
            taken = header_idx;
        }
        // Start codes wholly inside the chunk (their `01` at index >= 2).
        let mut from = 0;
        while let Some(i) = self.finder.find(&chunk[from..]) {
            let header_idx = from + i + 3;
            self.start_code(chunk, taken, header_idx, on_nal);
            taken = header_idx;
            from = header_idx;
        }
        self.take(&chunk[taken..]);
        self.remember_tail(chunk);
        self.pos += chunk.len() as u64;
    }

    /// Ends the stream: reports the last NAL unit, which extends to the end of the stream.
    ///
    /// Call once, after the last [`push`](Self::push).
    pub fn finish(&mut self, on_nal: &mut impl FnMut(NalUnit<'_>)) {
        self.end_current(self.pos, on_nal);
        self.current = None;
    }

    /// The byte at chunk index `i`, which may be negative (then from the previous chunks).
    fn byte_at(&self, chunk: &[u8], i: isize) -> Option<u8> {
        if i >= 0 {
            chunk.get(i as usize).copied()
        } else {
            let back = i.unsigned_abs();
            (back <= self.hist_len).then(|| self.hist[3 - back])
        }
    }

    /// A start code whose `01` is at `header_idx - 1`: ends the current unit, opens the next.
    fn start_code(
        &mut self,
        chunk: &[u8],
        taken: usize,
        header_idx: usize,
        on_nal: &mut impl FnMut(NalUnit<'_>),
    ) {
        self.take(&chunk[taken..header_idx]);
        let sc_idx = header_idx as isize - 3;
        let zero_byte = self.byte_at(chunk, sc_idx - 1) == Some(0);
        let sc_abs = (self.pos as i64 + sc_idx as i64) as u64;
        let mut start = sc_abs - u64::from(zero_byte);
        if let Some((_, header)) = self.current {
            // Cannot happen for a well-formed scan (the zero byte follows the previous `01`),
            // but keep the partition monotonic whatever the input.
            start = start.max(header);
        }
        self.end_current(start, on_nal);
        self.first_start.get_or_insert(start);
        self.current = Some((start, self.pos + header_idx as u64));
        self.prefix.clear();
    }

    /// Reports the current unit, if any, as ending at `end`.
    fn end_current(&mut self, end: u64, on_nal: &mut impl FnMut(NalUnit<'_>)) {
        let Some((start, header)) = self.current else {
            return;
        };
        let payload_len = end.saturating_sub(header);
        let complete = self.prefix.len() as u64 >= payload_len;
        let mut n = (self.prefix.len() as u64).min(payload_len) as usize;
        if complete {
            // trailing_zero_8bits (and a following start code's zeros) are not part of the unit.
            while n > 0 && self.prefix[n - 1] == 0 {
                n -= 1;
            }
        }
        on_nal(NalUnit {
            start,
            header,
            end,
            prefix: &self.prefix[..n],
            complete,
        });
    }

    /// Appends bytes of the current unit to its prefix, up to the cap for its type.
    fn take(&mut self, bytes: &[u8]) {
        if self.current.is_none() || bytes.is_empty() {
            return;
        }
        let header = *self.prefix.first().unwrap_or(&bytes[0]);
        let cap = match header & 0x1f {
            7 | 8 | 15 => PARAMETER_SET_PREFIX_LEN,
            _ => NAL_PREFIX_LEN,
        };
        let room = cap.saturating_sub(self.prefix.len()).min(bytes.len());
        self.prefix.extend_from_slice(&bytes[..room]);
    }

    /// Keeps the last three bytes seen, to find start codes split across pushes.
    fn remember_tail(&mut self, chunk: &[u8]) {
        if chunk.len() >= 3 {
            self.hist.copy_from_slice(&chunk[chunk.len() - 3..]);
            self.hist_len = 3;
        } else {
            for &b in chunk {
                self.hist = [self.hist[1], self.hist[2], b];
            }
            self.hist_len = (self.hist_len + chunk.len()).min(3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(start, header, end, prefix)` of every unit, pushing `data` in pieces of `step` bytes.
    fn scan(data: &[u8], step: usize) -> Vec<(u64, u64, u64, Vec<u8>)> {
        let mut scanner = AnnexBScanner::new();
        let mut out = Vec::new();
        let mut on_nal = |n: NalUnit<'_>| out.push((n.start, n.header, n.end, n.prefix.to_vec()));
        for piece in data.chunks(step.max(1)) {
            scanner.push(piece, &mut on_nal);
        }
        scanner.finish(&mut on_nal);
        out
    }

    fn scan_every_way(data: &[u8]) -> Vec<(u64, u64, u64, Vec<u8>)> {
        let whole = scan(data, data.len());
        for step in 1..=data.len() {
            assert_eq!(scan(data, step), whole, "step {step}");
        }
        whole
    }

    #[test]
    fn three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 0xaa, 0, 0, 1, 0x68, 0xbb, 0, 0, 0, 1, 0x65, 0xcc,
        ];
        let units = scan_every_way(&data);
        assert_eq!(
            units,
            vec![
                (0, 4, 6, vec![0x67, 0xaa]),
                (6, 9, 11, vec![0x68, 0xbb]),
                (11, 15, 17, vec![0x65, 0xcc]),
            ]
        );
    }

    #[test]
    fn trailing_zeros_belong_to_the_previous_unit_except_the_zero_byte() {
        let data = [0, 0, 1, 0x09, 0xf0, 0, 0, 0, 0, 0, 1, 0x67, 0x42, 0, 0];
        let units = scan_every_way(&data);
        assert_eq!(
            units,
            vec![(0, 3, 7, vec![0x09, 0xf0]), (7, 11, 15, vec![0x67, 0x42])]
        );
    }

    #[test]
    fn no_start_code_gives_no_unit() {
        assert!(scan_every_way(&[1, 2, 3, 0, 0, 2, 0, 0]).is_empty());
        assert!(scan(&[], 1).is_empty());
    }

    #[test]
    fn leading_garbage_is_skipped_and_positions_stay_absolute() {
        let data = [0xde, 0xad, 0, 0, 0, 1, 0x41, 0x9a];
        let units = scan_every_way(&data);
        assert_eq!(units, vec![(2, 6, 8, vec![0x41, 0x9a])]);
    }

    #[test]
    fn start_code_at_end_of_stream_is_an_empty_unit() {
        let data = [0, 0, 1, 0x41, 0x9a, 0, 0, 1];
        let units = scan_every_way(&data);
        assert_eq!(units, vec![(0, 3, 5, vec![0x41, 0x9a]), (5, 8, 8, vec![])]);
    }

    #[test]
    fn long_units_keep_only_a_prefix() {
        let mut data = vec![0, 0, 1, 0x41];
        data.extend_from_slice(&[0x55u8; 1000]);
        let units = scan(&data, 7);
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].3.len(), NAL_PREFIX_LEN);
        assert_eq!(units[0].2, data.len() as u64);
    }
}
