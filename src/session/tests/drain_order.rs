//! D54: actions are self-sufficient, so draining a machine's events before or after its
//! actions gives the same run: same segments, same outputs, same outcomes.

use super::pair::Pair;
use crate::media::SegmentMode;
use crate::session::{ClientEvent, SessionConfig, TransferOutcome};
use crate::wire::{FileRequest, TransferId};

fn run(events_first: bool) -> (Pair, Vec<TransferId>) {
    let mut p = Pair::new(SessionConfig::default());
    p.events_first = events_first;
    p.shuffle = true;
    p.drive();
    assert!(p.client.is_established() && p.platform.is_established());
    let mut ids = Vec::new();
    for (path, mode) in [
        ("baseline.h264", SegmentMode::Frame),
        ("data.bin", SegmentMode::Fixed),
        ("main_bframes.h264", SegmentMode::Gop),
    ] {
        let mut r = FileRequest::new(path);
        r.segment_mode = mode;
        let seq = p.request(r);
        ids.push(p.accepted(seq).unwrap().transfer_id);
    }
    (p, ids)
}

#[test]
fn draining_events_before_or_after_actions_gives_the_same_run() {
    let (a, ids_a) = run(false);
    let (b, ids_b) = run(true);
    assert_eq!(ids_a, ids_b);
    for &t in &ids_a {
        assert_eq!(
            a.platform_finished(t),
            vec![(TransferOutcome::Completed, true)],
            "actions first"
        );
        assert_eq!(a.platform_finished(t), b.platform_finished(t));
        assert_eq!(a.outputs[&t].segments, b.outputs[&t].segments);
        assert!(!a.outputs[&t].segments.values().all(Vec::is_empty));
    }
    let finished = |p: &Pair| -> Vec<(TransferId, TransferOutcome)> {
        p.client_events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::TransferFinished {
                    transfer, outcome, ..
                } => Some((*transfer, *outcome)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(finished(&a), finished(&b));
    assert_eq!(a.jobs.len(), b.jobs.len());
}
