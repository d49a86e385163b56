//! Failures as inputs (D48, D49): a full disk, a segment that stays damaged, a client that
//! gives up, a lost connection. Each ends the transfer once on both sides, boundedly.

use super::pair::Pair;
use super::reports;
use crate::media::SegmentMode;
use crate::session::{
    ClientEvent, SessionConfig, StorageFailure, TransferOutcome, DEFAULT_MAX_RETRIES,
};
use crate::wire::{ErrorReport, FileRequest, Message, SegmentId, StatusCode, TransferId};

fn client_outcomes(p: &Pair, t: TransferId) -> Vec<TransferOutcome> {
    p.client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::TransferFinished {
                transfer, outcome, ..
            } if *transfer == t => Some(*outcome),
            _ => None,
        })
        .collect()
}

fn retransmission_requests(p: &Pair) -> usize {
    reports(&p.to_client)
        .iter()
        .filter(|r| r.retransmission_request().is_some())
        .count()
}

fn gop_request(p: &mut Pair) -> TransferId {
    let mut r = FileRequest::new("main_bframes.h264");
    r.segment_mode = SegmentMode::Frame;
    let seq = p.request(r);
    p.accepted(seq).unwrap().transfer_id
}

#[test]
fn a_full_disk_fails_the_transfer_once_on_both_sides_with_1003_and_no_retransmission() {
    let mut p = Pair::established(SessionConfig::default());
    p.disk_full_after = Some(10);
    let t = gop_request(&mut p);
    let full = TransferOutcome::Failed(StatusCode::StorageFull);
    assert_eq!(p.platform_finished(t), vec![(full, false)]);
    assert_eq!(client_outcomes(&p, t), vec![full]);
    let sent = reports(&p.to_client);
    let storage: Vec<&ErrorReport> = sent
        .iter()
        .filter(|r| r.error_code == StatusCode::StorageFull)
        .collect();
    assert_eq!(storage.len(), 1, "one report: {sent:?}");
    assert_eq!(
        storage[0].details.as_ref().unwrap()["transfer_id"],
        t.to_string()
    );
    assert_eq!(retransmission_requests(&p), 0);
    // Nothing more was produced than the segments in flight when the disk filled.
    let limit = 10 + SessionConfig::default().max_in_flight_segments;
    assert!(p.jobs.len() <= limit, "{} jobs", p.jobs.len());
}

#[test]
fn an_unwritable_output_fails_with_500() {
    let mut p = Pair::established(SessionConfig::default());
    p.hold_segments = true;
    let t = gop_request(&mut p);
    p.platform
        .handle_output_failed(p.now, t, None, StorageFailure::Permission, "denied");
    p.drive();
    let failed = TransferOutcome::Failed(StatusCode::InternalError);
    assert_eq!(p.platform_finished(t), vec![(failed, false)]);
    assert_eq!(client_outcomes(&p, t), vec![failed]);
    // A second failure of the same output says nothing more.
    p.platform
        .handle_output_failed(p.now, t, Some(3), StorageFailure::NoSpace, "full");
    p.drive();
    let errors = reports(&p.to_client);
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn a_segment_damaged_every_time_fails_after_max_retries_on_both_sides() {
    let mut p = Pair::established(SessionConfig::default());
    p.always_damaged = [5].into_iter().collect();
    let t = gop_request(&mut p);
    let failed = TransferOutcome::Failed(StatusCode::SegmentCorrupted);
    assert_eq!(p.platform_finished(t), vec![(failed, false)]);
    // The client had sent everything (Completed), then learnt the platform gave up.
    assert_eq!(client_outcomes(&p, t).last(), Some(&failed));
    assert_eq!(retransmission_requests(&p), DEFAULT_MAX_RETRIES as usize);
    let copies = p.jobs.iter().filter(|j| j.index == 5).count();
    assert_eq!(copies, 1 + DEFAULT_MAX_RETRIES as usize);
    for r in reports(&p.to_client) {
        if r.retransmission_request().is_some() {
            assert_eq!(r.max_retries, Some(DEFAULT_MAX_RETRIES));
        }
    }
}

#[test]
fn the_client_gives_up_a_segment_asked_for_past_max_retries() {
    let mut p = Pair::established(SessionConfig::default());
    let t = gop_request(&mut p);
    assert_eq!(client_outcomes(&p, t), vec![TransferOutcome::Completed]);
    let id = SegmentId::new(t, 2);
    for _ in 0..5 {
        // A peer asking again and again, allowing two resends.
        let mut r = ErrorReport::retransmission(id, Some("again"));
        r.max_retries = Some(2);
        let env = crate::wire::JsonEnvelope::wrap(
            &Message::ErrorReport(r),
            900,
            crate::wire::Timestamp::UNIX_EPOCH,
            uuid::Uuid::nil(),
        );
        p.client.handle_message(p.now, env);
        p.drive();
    }
    assert_eq!(p.jobs.iter().filter(|j| j.index == 2).count(), 3);
    let failed = TransferOutcome::Failed(StatusCode::SegmentCorrupted);
    assert_eq!(
        client_outcomes(&p, t),
        vec![TransferOutcome::Completed, failed]
    );
    let told: Vec<ErrorReport> = reports(&p.to_platform);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].error_code, StatusCode::SegmentCorrupted);
}

#[test]
fn a_lost_connection_ends_running_transfers_in_the_client_machine() {
    let mut p = Pair::established(SessionConfig::default());
    p.hold_segments = true;
    let t = gop_request(&mut p);
    assert!(client_outcomes(&p, t).is_empty());
    p.client.handle_connection_lost(p.now);
    p.drain();
    assert_eq!(
        client_outcomes(&p, t),
        vec![TransferOutcome::ConnectionLost]
    );
    assert!(p.client.poll_timeout().is_none());
    // Nothing more once lost.
    p.client.handle_connection_lost(p.now);
    p.drain();
    assert_eq!(client_outcomes(&p, t).len(), 1);
}

#[test]
fn a_flood_of_unknown_transfer_ids_keeps_the_platform_bounded() {
    use crate::wire::{SegmentFlags, SegmentHeader, VideoHeader};
    let mut p = Pair::established(SessionConfig::default());
    let mut now = p.now;
    let mut most = 0;
    for round in 0..20u64 {
        for v in 0..5_000u64 {
            let id = TransferId::new(1 + round * 5_000 + v).unwrap();
            let h = SegmentHeader::Video(VideoHeader {
                id: SegmentId::new(id, 0),
                timestamp: 0.0,
                duration: 0.0,
                frame_count: 1,
                flags: SegmentFlags::empty(),
                data_length: 10,
                metadata: None,
            });
            let _ = p.platform.handle_segment_header(now, &h);
            while p.platform.poll_action().is_some() {}
        }
        most = most.max(p.platform.unknown_transfers());
        now += std::time::Duration::from_secs(6);
        p.platform.handle_timeout(now);
    }
    println!("100,000 unknown transfer ids: at most {most} remembered");
    assert!(most <= 512, "{most}");
}

#[test]
fn parked_headers_are_decided_by_the_machine() {
    use crate::session::{PlatformAction, SegmentVerdict};
    use crate::wire::{SegmentFlags, SegmentHeader, VideoHeader};
    let config = SessionConfig {
        unknown_transfer_grace: std::time::Duration::from_secs(2),
        ..SessionConfig::default()
    };
    let mut p = Pair::established(config);
    let t0 = p.now;
    let other = TransferId::new(0xcc).unwrap();
    let h = SegmentHeader::Video(VideoHeader {
        id: SegmentId::new(other, 0),
        timestamp: 0.0,
        duration: 0.0,
        frame_count: 0,
        flags: SegmentFlags::empty(),
        data_length: 10,
        metadata: None,
    });
    assert_eq!(
        p.platform.handle_segment_header(t0, &h),
        SegmentVerdict::NotYetKnown
    );
    let t1 = t0 + std::time::Duration::from_secs(1);
    assert_eq!(
        p.platform.handle_segment_header(t1, &h),
        SegmentVerdict::NotYetKnown
    );
    assert_eq!(
        p.platform.poll_timeout(),
        Some(t0 + std::time::Duration::from_secs(2))
    );
    p.platform
        .handle_timeout(t0 + std::time::Duration::from_secs(2));
    let mut judged = 0;
    while let Some(a) = p.platform.poll_action() {
        if let PlatformAction::SegmentJudged { verdict, .. } = a {
            assert_eq!(verdict, SegmentVerdict::Refuse(StatusCode::BadRequest));
            judged += 1;
        }
    }
    assert_eq!(
        judged, 2,
        "both parked streams are refused by the machine's timeout"
    );
    assert!(p.platform.poll_timeout().is_none());
}
