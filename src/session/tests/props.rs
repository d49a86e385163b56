//! Property: any interleaving and duplication of segment arrivals completes a transfer
//! exactly once, exactly when every index has arrived, and never panics.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;

use super::pair::Pair;
use crate::session::{PlatformAction, SegmentVerdict, SessionConfig, TransferOutcome};
use crate::wire::{
    FileRequest, SegmentFlags, SegmentHeader, SegmentId, SegmentMode, TransferId, VideoHeader,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arrival_order_and_duplicates_never_complete_twice(
        order in Just((0u32..100).collect::<Vec<_>>()).prop_shuffle(),
        dups in prop::collection::vec(0u32..100, 0..60),
        drop in prop::option::of(0u32..100),
    ) {
        let config = SessionConfig { max_in_flight_segments: 1000, ..SessionConfig::default() };
        let mut p = Pair::established(config);
        p.hold_segments = true;
        let mut r = FileRequest::new("baseline.h264");
        r.segment_mode = SegmentMode::Frame;
        let seq = p.request(r);
        let t = p.accepted(seq).unwrap().transfer_id;
        let jobs: Vec<_> = p.held.clone();
        prop_assert_eq!(jobs.len(), 100);
        let mut arrivals: Vec<u32> = order.clone();
        for (i, d) in dups.iter().enumerate() {
            let at = (i * 7) % (arrivals.len() + 1);
            arrivals.insert(at, *d);
        }
        let mut seen = BTreeSet::new();
        let mut finished = 0;
        let now = p.now;
        for i in arrivals {
            if Some(i) == drop {
                continue;
            }
            let h = &jobs[i as usize].header;
            match p.platform.handle_segment_header(now, h) {
                SegmentVerdict::Write { index, .. } => {
                    prop_assert!(seen.insert(index));
                    p.platform.handle_segment_written(now, h, Duration::ZERO);
                }
                SegmentVerdict::Duplicate => prop_assert!(seen.contains(&i)),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
            while let Some(a) = p.platform.poll_action() {
                if let PlatformAction::FinishOutput { transfer, outcome } = a {
                    prop_assert_eq!(transfer, t);
                    prop_assert_eq!(outcome, TransferOutcome::Completed);
                    prop_assert_eq!(seen.len(), 100, "complete exactly when all arrived");
                    finished += 1;
                }
            }
        }
        prop_assert_eq!(finished, if drop.is_some() { 0 } else { 1 });
    }

    #[test]
    fn arbitrary_headers_never_panic(
        ids in prop::collection::vec((any::<u128>(), any::<bool>(), 0u64..4, 0u32..200, any::<u32>(), any::<u8>()), 1..40),
    ) {
        let config = SessionConfig { max_in_flight_segments: 1000, ..SessionConfig::default() };
        let mut p = Pair::established(config);
        p.hold_segments = true;
        let seq = p.request(FileRequest::new("baseline.h264"));
        let t = p.accepted(seq).unwrap().transfer_id;
        let now = p.now;
        for (raw, ours, tsel, index, len, flags) in ids {
            let id = if ours {
                let tr = if tsel == 0 { TransferId::new(raw as u64 & TransferId::MAX).unwrap() } else { t };
                SegmentId::new(tr, index)
            } else {
                SegmentId::from_uuid(uuid::Uuid::from_u128(raw))
            };
            let h = SegmentHeader::Video(VideoHeader {
                id, timestamp: f64::from(index), duration: f64::from(len % 7), frame_count: len % 3,
                flags: SegmentFlags(flags), data_length: len % 100_000, metadata: None,
            });
            let v = p.platform.handle_segment_header(now, &h);
            if matches!(v, SegmentVerdict::Write { .. }) {
                p.platform.handle_segment_written(now, &h, Duration::ZERO);
            }
            p.drain();
        }
        let finishes = p.outputs.get(&t).map_or(0, |o| o.finished.len());
        prop_assert!(finishes <= 1);
    }
}
