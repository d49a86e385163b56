//! The seek table: every sync sample of a track with its presentation time and its absolute
//! byte offset, computed from the sample tables without touching `mdat`.
//!
//! A seek in MP4 fixed mode restarts at the chunk holding the sync sample's byte offset
//! (profile section 6); this is where those offsets come from. The walk is a single pass over
//! the chunk table, so its cost is proportional to the tables, whatever the counts claim.

use super::moov::trak::stbl::Stbl;
use super::SyncSample;
use crate::media::MediaError;

/// More sync samples than this is refused: 16 Mi entries is what a 64 MiB sample size table
/// could describe, and keeps the seek table itself under 256 MiB for a hostile file.
const MAX_SYNC_SAMPLES: u64 = 16 * 1024 * 1024;

/// The track's timing, needed to turn sample indices into seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrackTiming {
    /// `mdhd` timescale.
    pub(crate) timescale: u32,
    /// Seconds added to composition times by the edit list.
    pub(crate) presentation_shift: f64,
}

/// The sync samples of a track in increasing order.
///
/// `file_size` bounds tables whose counts are not backed by bytes (a constant-size `stsz`).
pub(crate) fn sync_samples(
    stbl: &Stbl,
    timing: TrackTiming,
    file_size: u64,
) -> Result<Vec<SyncSample>, MediaError> {
    let sample_count = stbl.stsz.sample_count;
    if stbl.stsz.sample_size != 0
        && u64::from(sample_count) * u64::from(stbl.stsz.sample_size) > file_size
    {
        return Err(invalid("stsz", "sample sizes add up to more than the file"));
    }
    let indices = sync_indices(stbl, sample_count)?;
    let offsets = byte_offsets(stbl, &indices)?;
    let times = presentation_times(stbl, timing, &indices)?;
    let mut samples: Vec<SyncSample> = offsets
        .into_iter()
        .zip(times)
        .map(|(byte_offset, time)| SyncSample { time, byte_offset })
        .collect();
    // Sync samples present in decode order in any sound file; a damaged `ctts` or edit can
    // say otherwise. Seeks search this table by time, so it is kept in time order (stable:
    // equal times keep their decode order).
    samples.sort_by(|a, b| a.time.total_cmp(&b.time));
    Ok(samples)
}

/// 0-based indices of the sync samples: from `stss` (sorted, deduplicated, out-of-range
/// entries dropped), or every sample when `stss` is absent.
pub(crate) fn sync_indices(stbl: &Stbl, sample_count: u32) -> Result<Vec<u32>, MediaError> {
    match &stbl.stss {
        Some(stss) => {
            let mut indices: Vec<u32> = stss
                .sample_number
                .iter()
                .filter(|n| **n >= 1 && **n <= sample_count)
                .map(|n| n - 1)
                .collect();
            indices.sort_unstable();
            indices.dedup();
            Ok(indices)
        }
        None if u64::from(sample_count) > MAX_SYNC_SAMPLES => {
            Err(invalid("stsz", "too many samples for a seek table"))
        }
        None => Ok((0..sample_count).collect()),
    }
}

/// Absolute file offsets of the samples at `indices` (sorted): chunk offset (`stco`/`co64`)
/// plus the sizes (`stsz`) of the samples before it in its chunk (`stsc`).
fn byte_offsets(stbl: &Stbl, indices: &[u32]) -> Result<Vec<u64>, MediaError> {
    let chunks = &stbl.stco.chunk_offset;
    let runs = &stbl.stsc.entries;
    let stsz = &stbl.stsz;
    let mut out = Vec::with_capacity(indices.len());
    let mut wanted = indices.iter().copied().peekable();
    let mut first_sample: u64 = 0; // index of the first sample of the current chunk
    for (i, run) in runs.iter().enumerate() {
        if run.first_chunk == 0 || (i > 0 && run.first_chunk <= runs[i - 1].first_chunk) {
            return Err(invalid("stsc", "first_chunk is zero or not increasing"));
        }
        let first = run.first_chunk as usize - 1;
        let end = runs
            .get(i + 1)
            // A zero `first_chunk` in the next run is refused by the next iteration; here it
            // must not underflow (found by the mp4 fuzz target, D99).
            .map_or(chunks.len(), |next| {
                (next.first_chunk as usize).saturating_sub(1)
            })
            .min(chunks.len());
        for &chunk_offset in chunks.get(first..end).unwrap_or(&[]) {
            let next_first = first_sample + u64::from(run.samples_per_chunk);
            // Within one chunk, walk forward once, summing sizes, past each wanted sample.
            let (mut sample, mut offset) = (first_sample, chunk_offset);
            while let Some(&target) = wanted.peek() {
                let target = u64::from(target);
                if target >= next_first {
                    break;
                }
                while sample < target {
                    offset = add_size(stsz, sample, offset)?;
                    sample += 1;
                }
                out.push(offset);
                wanted.next();
            }
            first_sample = next_first;
            if wanted.peek().is_none() {
                return Ok(out);
            }
        }
    }
    if wanted.peek().is_some() {
        return Err(invalid(
            "stsc",
            "chunks hold fewer samples than the sync table names",
        ));
    }
    Ok(out)
}

fn add_size(
    stsz: &super::moov::trak::stbl::Stsz,
    sample: u64,
    offset: u64,
) -> Result<u64, MediaError> {
    let size = u32::try_from(sample)
        .ok()
        .and_then(|s| stsz.size_of(s))
        .ok_or_else(|| invalid("stsz", "fewer sizes than samples"))?;
    offset
        .checked_add(u64::from(size))
        .ok_or_else(|| invalid("stco", "sample offset overflows"))
}

/// Presentation times in seconds of the samples at `indices` (sorted): decode time from
/// `stts`, plus the `ctts` offset, plus the edit list's shift; never below zero.
fn presentation_times(
    stbl: &Stbl,
    timing: TrackTiming,
    indices: &[u32],
) -> Result<Vec<f64>, MediaError> {
    if timing.timescale == 0 {
        return Err(invalid("mdhd", "timescale is zero"));
    }
    let decode = RunCursor::new(
        stbl.stts
            .entries
            .iter()
            .map(|e| (e.sample_count, e.sample_delta)),
    );
    let mut decode = decode;
    let mut composition = stbl.ctts.as_ref().map(|ctts| {
        RunCursor::new(
            ctts.entries
                .iter()
                .map(|e| (e.sample_count, e.sample_offset)),
        )
    });
    let scale = f64::from(timing.timescale);
    let mut out = Vec::with_capacity(indices.len());
    for &index in indices {
        let dts = decode.decode_time(u64::from(index));
        let cts_offset = composition
            .as_mut()
            .and_then(|c| c.value_at(u64::from(index)))
            .unwrap_or(0);
        let time = (dts as f64 + f64::from(cts_offset)) / scale + timing.presentation_shift;
        out.push(time.max(0.0));
    }
    Ok(out)
}

/// A forward-only cursor over run-length tables (`stts`, `ctts`): (count, value) runs.
struct RunCursor<I> {
    runs: I,
    /// Current run: first sample index, count, value.
    current: Option<(u64, u32, i64)>,
    /// Decode time at the start of the current run (meaningful for `stts`).
    time_at_run: u64,
}

impl<I, V> RunCursor<I>
where
    I: Iterator<Item = (u32, V)>,
    V: Into<i64>,
{
    fn new(mut runs: I) -> Self {
        let current = runs.next().map(|(count, value)| (0, count, value.into()));
        RunCursor {
            runs,
            current,
            time_at_run: 0,
        }
    }

    /// Moves to the run holding `index`; false when the table ends before it.
    fn seek(&mut self, index: u64) -> bool {
        while let Some((first, count, value)) = self.current {
            if index < first + u64::from(count) {
                return true;
            }
            let delta = u64::try_from(value).unwrap_or(0);
            self.time_at_run = self
                .time_at_run
                .saturating_add(u64::from(count).saturating_mul(delta));
            self.current = self
                .runs
                .next()
                .map(|(c, v)| (first + u64::from(count), c, v.into()));
        }
        false
    }

    /// The value of the run holding `index` (for `ctts`).
    fn value_at(&mut self, index: u64) -> Option<i32> {
        if self.seek(index) {
            self.current.map(|(_, _, v)| v as i32)
        } else {
            None
        }
    }

    /// The decode time of sample `index` (for `stts`); past the table, the total duration.
    fn decode_time(&mut self, index: u64) -> u64 {
        if self.seek(index) {
            if let Some((first, _, delta)) = self.current {
                let delta = u64::try_from(delta).unwrap_or(0);
                return self
                    .time_at_run
                    .saturating_add((index - first).saturating_mul(delta));
            }
        }
        self.time_at_run
    }
}

fn invalid(kind: &str, reason: &str) -> MediaError {
    MediaError::MalformedBox {
        kind: kind.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::mp4::moov::trak::stbl::stsd::Stsd;
    use crate::media::mp4::moov::trak::stbl::{
        Ctts, CttsEntry, Stco, Stsc, StscEntry, Stss, Stsz, Stts, SttsEntry,
    };
    use proptest::prelude::*;

    fn stbl(
        runs: &[(u32, u32)],
        sizes: Vec<u32>,
        chunks: Vec<u64>,
        sync: Option<Vec<u32>>,
    ) -> Stbl {
        Stbl {
            stsd: Stsd { entries: vec![] },
            stts: Stts {
                entries: vec![SttsEntry {
                    sample_count: sizes.len() as u32,
                    sample_delta: 10,
                }],
            },
            ctts: None,
            stss: sync.map(|sample_number| Stss { sample_number }),
            stsc: Stsc {
                entries: runs
                    .iter()
                    .map(|&(first_chunk, samples_per_chunk)| StscEntry {
                        first_chunk,
                        samples_per_chunk,
                        sample_description_index: 1,
                    })
                    .collect(),
            },
            stsz: Stsz {
                sample_size: 0,
                sample_count: sizes.len() as u32,
                entry_size: sizes,
            },
            stco: Stco {
                chunk_offset: chunks,
            },
        }
    }

    const TIMING: TrackTiming = TrackTiming {
        timescale: 100,
        presentation_shift: 0.0,
    };

    #[test]
    fn sync_samples_in_the_middle_of_chunks() {
        // Chunks 1-2 hold 3 samples, chunk 3 on holds 2. Sizes 1, 2, 3, ...
        let table = stbl(
            &[(1, 3), (3, 2)],
            (1..=8).collect(),
            vec![1000, 2000, 3000],
            Some(vec![1, 3, 5, 8]),
        );
        let got = sync_samples(&table, TIMING, u64::MAX).unwrap();
        let offsets: Vec<u64> = got.iter().map(|s| s.byte_offset).collect();
        // Sample 3 (1-based) is 1+2 bytes into chunk 1; 5 is 4 bytes into chunk 2; 8 is 7 into chunk 3.
        assert_eq!(offsets, [1000, 1003, 2004, 3007]);
        let times: Vec<f64> = got.iter().map(|s| s.time).collect();
        assert_eq!(times, [0.0, 0.2, 0.4, 0.7]);
    }

    #[test]
    fn composition_offsets_and_edit_shift_give_presentation_times() {
        let mut table = stbl(&[(1, 1)], vec![5; 4], vec![0, 5, 10, 15], Some(vec![1, 3]));
        table.ctts = Some(Ctts {
            entries: vec![CttsEntry {
                sample_count: 4,
                sample_offset: 20,
            }],
        });
        let timing = TrackTiming {
            timescale: 100,
            presentation_shift: -0.2,
        };
        let times: Vec<f64> = sync_samples(&table, timing, u64::MAX)
            .unwrap()
            .iter()
            .map(|s| s.time)
            .collect();
        assert_eq!(times, [0.0, 0.2]);
    }

    #[test]
    fn bad_tables_are_errors() {
        let decreasing = stbl(&[(2, 1), (1, 1)], vec![1; 2], vec![0, 1], None);
        assert!(sync_samples(&decreasing, TIMING, u64::MAX).is_err());
        let too_few_chunks = stbl(&[(1, 1)], vec![1; 3], vec![0], None);
        assert!(sync_samples(&too_few_chunks, TIMING, u64::MAX).is_err());
        let mut constant = stbl(&[(1, 1)], vec![], vec![0], None);
        constant.stsz = Stsz {
            sample_size: 1000,
            sample_count: u32::MAX,
            entry_size: vec![],
        };
        assert!(sync_samples(&constant, TIMING, 1 << 20).is_err());
        let zero_timescale = TrackTiming {
            timescale: 0,
            presentation_shift: 0.0,
        };
        let fine = stbl(&[(1, 1)], vec![1], vec![0], None);
        assert!(sync_samples(&fine, zero_timescale, u64::MAX).is_err());
    }

    /// Offsets by expanding every sample: the obvious, slow reference.
    fn naive_offsets(table: &Stbl) -> Vec<u64> {
        let mut offsets = Vec::new();
        let runs = &table.stsc.entries;
        let mut sample = 0usize;
        for (c, &chunk_offset) in table.stco.chunk_offset.iter().enumerate() {
            let chunk = c as u32 + 1;
            let run = runs.iter().rev().find(|r| r.first_chunk <= chunk).unwrap();
            let mut offset = chunk_offset;
            for _ in 0..run.samples_per_chunk {
                if sample == table.stsz.entry_size.len() {
                    return offsets;
                }
                offsets.push(offset);
                offset += u64::from(table.stsz.entry_size[sample]);
                sample += 1;
            }
        }
        offsets
    }

    proptest! {
        #[test]
        fn offsets_equal_the_naive_expansion(
            spc in proptest::collection::vec(1u32..6, 1..6),
            sizes in proptest::collection::vec(0u32..1000, 1..60),
            sync_every in 1usize..7,
        ) {
            // One stsc run per chunk-group of two chunks; enough chunks for every sample.
            let runs: Vec<(u32, u32)> = spc.iter().enumerate().map(|(i, &n)| (2 * i as u32 + 1, n)).collect();
            let chunks: Vec<u64> = (0..sizes.len() as u64).map(|i| 100_000 * i).collect();
            let sync: Vec<u32> = (1..=sizes.len() as u32).step_by(sync_every).collect();
            let table = stbl(&runs, sizes, chunks, Some(sync.clone()));
            let naive = naive_offsets(&table);
            prop_assume!(naive.len() == table.stsz.entry_size.len());
            let got = sync_samples(&table, TIMING, u64::MAX).unwrap();
            let want: Vec<u64> = sync.iter().map(|n| naive[*n as usize - 1]).collect();
            let offsets: Vec<u64> = got.iter().map(|s| s.byte_offset).collect();
            prop_assert_eq!(offsets, want);
        }
    }
}
