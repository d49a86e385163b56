//! Resume driven by the platform (D63): `resume_from_segment` at the first missing index
//! and `held_segments` for the later ranges it already holds; the client sends exactly
//! the rest.

use super::pair::Pair;
use crate::session::{ClientEvent, SessionConfig, TransferOutcome};
use crate::wire::{FileRequest, ResumePoint, SegmentMode};

#[test]
fn the_client_sends_only_what_the_platform_does_not_hold() {
    let mut p = Pair::established(SessionConfig::default());
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Frame;
    r.resume_from_segment = Some(ResumePoint::Index(40));
    r.held_segments = vec![(50, 59), (90, 99)];
    let seq = p.request(r);
    let a = p.accepted(seq).unwrap();
    assert_eq!((a.start_segment, a.total_segments), (40, 100));
    let sent: Vec<u32> = p.jobs_for(a.transfer_id).iter().map(|j| j.index).collect();
    let want: Vec<u32> = (40..50).chain(60..90).collect();
    assert_eq!(sent, want);
    // Held ranges up to the last segment: the client still ends the transfer completed.
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        ClientEvent::TransferFinished {
            transfer,
            outcome: TransferOutcome::Completed,
            ..
        } if *transfer == a.transfer_id
    )));
}

#[test]
fn held_ranges_before_the_resume_point_change_nothing() {
    let mut p = Pair::established(SessionConfig::default());
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Frame;
    r.resume_from_segment = Some(ResumePoint::Index(95));
    r.held_segments = vec![(0, 94)];
    let seq = p.request(r);
    let a = p.accepted(seq).unwrap();
    let sent: Vec<u32> = p.jobs_for(a.transfer_id).iter().map(|j| j.index).collect();
    assert_eq!(sent, (95..100).collect::<Vec<_>>());
}
