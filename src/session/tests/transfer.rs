//! FileRequest acknowledgement and refusals; whole transfers in every mode; resume;
//! bounded in-flight; retransmission; platform verdicts.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::pair::{sha256_hex, videos, Pair};
use super::reports;
use crate::session::{
    ClientAction, ClientEvent, PlatformAction, PlatformEvent, PlatformSession, SegmentVerdict,
    SessionConfig, TransferOutcome,
};
use crate::wire::{
    FileRequest, JsonEnvelope, Message, ResumePoint, SegmentFlags, SegmentHeader, SegmentId,
    SegmentMode, StatusCode, Timestamp, TransferId, VideoHeader,
};

fn refused(p: &Pair, seq: u64) -> Option<StatusCode> {
    p.platform_events.iter().find_map(|e| match e {
        PlatformEvent::RequestRefused {
            request_seq: ack,
            report,
        } if *ack == seq => Some(report.error_code),
        _ => None,
    })
}

#[test]
fn file_request_ack_carries_every_profile_field() {
    let mut p = Pair::established(SessionConfig::default());
    let mut r = FileRequest::new("av.mp4");
    r.segment_mode = SegmentMode::Fixed;
    let seq = p.request(r);
    let a = p.accepted(seq).expect("accepted");
    let bytes = std::fs::read(videos().join("av.mp4")).unwrap();
    assert_eq!(a.ack, seq);
    assert_eq!(a.file_path, "av.mp4");
    assert_eq!(a.file_size, bytes.len() as u64);
    assert_eq!(a.checksum, Some(sha256_hex(&bytes)));
    assert_eq!(a.segment_mode, SegmentMode::Fixed);
    assert_eq!(a.segment_size, Some(256 * 1024));
    assert_eq!(a.total_segments, bytes.len().div_ceil(256 * 1024) as u32);
    assert_eq!(a.start_segment, 0);
    assert!(a.transfer_id.value() != 0 && a.transfer_id.value() <= TransferId::MAX);
    // The wire text: transfer_id as 12 hex digits, segment_size a number.
    let st = super::statuses(&p.to_platform);
    let text = &st.iter().find(|s| s.ack() == Some(seq)).unwrap().message;
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    for k in [
        "ack",
        "transfer_id",
        "file_path",
        "file_size",
        "checksum",
        "segment_mode",
        "segment_size",
        "total_segments",
        "start_segment",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {text}");
    }
    assert_eq!(v["transfer_id"].as_str().unwrap().len(), 12);
}

#[test]
fn refusals_reach_the_platform_with_the_ack() {
    let mut p = Pair::established(SessionConfig::default());
    let missing = p.request(FileRequest::new("nope.h264"));
    let escape = p.request(FileRequest::new("../Cargo.toml"));
    let unsupported = p.request(FileRequest::new("x.unsupported"));
    let mut r = FileRequest::new("baseline.h264");
    r.resume_from_segment = Some(ResumePoint::Index(100));
    let out_of_range = p.request(r);
    let mut r = FileRequest::new("data.bin");
    r.seek_position = Some(1.0);
    let no_time_axis = p.request(r);
    assert_eq!(refused(&p, missing), Some(StatusCode::NotFound));
    assert_eq!(refused(&p, escape), Some(StatusCode::NotFound));
    assert_eq!(
        refused(&p, unsupported),
        Some(StatusCode::UnsupportedFormat)
    );
    assert_eq!(refused(&p, out_of_range), Some(StatusCode::BadRequest));
    assert_eq!(refused(&p, no_time_axis), Some(StatusCode::BadRequest));
    // A request out of range that the platform machine would not send: the client
    // validates too (400 with the ack).
    let mut bad = FileRequest::new("baseline.h264");
    bad.priority = 0;
    assert!(p.platform.request_file(p.now, bad.clone()).is_err());
    let env = JsonEnvelope::wrap(
        &Message::FileRequest(bad),
        77,
        Timestamp::UNIX_EPOCH,
        Uuid::nil(),
    );
    p.client.handle_message(p.now, env);
    p.drain();
    let r = reports(&p.to_platform).pop().unwrap();
    assert_eq!((r.error_code, r.ack()), (StatusCode::BadRequest, Some(77)));
    assert!(p.client.is_established());
}

/// Runs a whole transfer with shuffled, duplicated arrival; checks it completes once.
fn whole(path: &str, mode: SegmentMode, seed: u64) {
    let mut p = Pair::established(SessionConfig::default());
    p.seed(seed);
    p.shuffle = true;
    p.duplicate_permille = 200;
    let mut r = FileRequest::new(path);
    r.segment_mode = mode;
    let seq = p.request(r);
    let a = p.accepted(seq).expect("accepted");
    let t = a.transfer_id;
    assert_eq!(
        p.platform_finished(t),
        vec![(TransferOutcome::Completed, true)],
        "{path} {mode:?}"
    );
    let out = &p.outputs[&t];
    assert_eq!(out.finished, vec![TransferOutcome::Completed]);
    assert_eq!(
        out.writes,
        u64::from(a.total_segments),
        "each index written once"
    );
    let indices: BTreeSet<u32> = p.jobs_for(t).iter().map(|j| j.index).collect();
    assert_eq!(indices, (0..a.total_segments).collect());
    assert_eq!(
        p.jobs_for(t).len(),
        a.total_segments as usize,
        "no job twice"
    );
    // The last carries 0x10, no other does.
    for j in p.jobs_for(t) {
        assert_eq!(j.header.is_last(), j.index + 1 == a.total_segments);
        assert_eq!(j.header.id(), SegmentId::new(t, j.index));
        assert_eq!(j.priority, 128 * 256 + 1);
    }
    let client_done: Vec<_> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::TransferFinished {
                transfer,
                outcome,
                summary,
            } if *transfer == t => Some((*outcome, summary.segments, summary.bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(
        client_done,
        vec![(
            TransferOutcome::Completed,
            u64::from(a.total_segments),
            a.file_size
        )]
    );
    let st = &p.platform.transfers()[0];
    assert_eq!(st.received_segments, u64::from(a.total_segments));
    assert_eq!(st.bytes, a.file_size);
    assert_eq!(st.index_ranges, vec![(0, a.total_segments - 1)]);
}

#[test]
fn whole_transfers_complete_once_in_every_mode() {
    for (i, (path, mode)) in [
        ("baseline.h264", SegmentMode::Frame),
        ("baseline.h264", SegmentMode::Gop),
        ("baseline.h264", SegmentMode::Time),
        ("baseline.h264", SegmentMode::Fixed),
        ("main_bframes.h264", SegmentMode::Auto),
        ("high_slices.h264", SegmentMode::Frame),
        ("av.mp4", SegmentMode::Auto),
        ("data.bin", SegmentMode::Auto),
    ]
    .into_iter()
    .enumerate()
    {
        whole(path, mode, 100 + i as u64);
    }
}

#[test]
fn frame_segments_report_frame_types() {
    let mut p = Pair::established(SessionConfig::default());
    let mut r = FileRequest::new("main_bframes.h264");
    r.segment_mode = SegmentMode::Frame;
    p.request(r);
    let types: BTreeSet<&str> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::SegmentTransmitted { frame_type, .. } => Some(*frame_type),
            _ => None,
        })
        .collect();
    assert!(
        types.contains("KEY") && types.contains("P") && types.contains("B"),
        "{types:?}"
    );
    let mut p = Pair::established(SessionConfig::default());
    p.request(FileRequest::new("data.bin"));
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        ClientEvent::SegmentTransmitted {
            frame_type: "-",
            ..
        }
    )));
}

#[test]
fn resume_from_segment_is_inclusive() {
    let mut p = Pair::established(SessionConfig::default());
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Frame;
    r.resume_from_segment = Some(ResumePoint::Index(40));
    let seq = p.request(r);
    let a = p.accepted(seq).unwrap();
    assert_eq!(a.start_segment, 40);
    let idx: Vec<u32> = p.jobs_for(a.transfer_id).iter().map(|j| j.index).collect();
    assert_eq!(idx, (40..100).collect::<Vec<_>>());
    // Completed (the range 40-99 arrived), but not the whole file: no checksum match.
    assert_eq!(
        p.platform_finished(a.transfer_id),
        vec![(TransferOutcome::Completed, false)]
    );
    // A segment id names the same point.
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Frame;
    r.resume_from_segment = Some(ResumePoint::SegmentId(SegmentId::new(
        TransferId::new(9).unwrap(),
        99,
    )));
    let seq = p.request(r);
    assert_eq!(p.accepted(seq).unwrap().start_segment, 99);
}

#[test]
fn seek_position_in_the_request_starts_at_the_keyframe_segment() {
    let mut p = Pair::established(SessionConfig::default());
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Frame;
    r.seek_position = Some(2.5); // frame 62 -> IDR 50
    let seq = p.request(r);
    assert_eq!(p.accepted(seq).unwrap().start_segment, 50);
}

#[test]
fn in_flight_segments_stay_bounded() {
    let config = SessionConfig {
        max_in_flight_segments: 4,
        ..SessionConfig::default()
    };
    let mut p = Pair::established(config);
    p.hold_segments = true;
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Frame;
    let seq = p.request(r);
    let t = p.accepted(seq).unwrap().transfer_id;
    assert_eq!(p.jobs_for(t).len(), 4, "four issued, none reported sent");
    for _ in 0..200 {
        if p.held.is_empty() {
            break;
        }
        p.release_held();
        p.drive();
        assert!(p.max_outstanding <= 4);
    }
    assert_eq!(p.max_outstanding, 4);
    assert_eq!(
        p.platform_finished(t),
        vec![(TransferOutcome::Completed, true)]
    );
}

#[test]
fn retransmission_request_resends_the_same_id_with_error_recovery() {
    let mut p = Pair::established(SessionConfig::default());
    let seq = p.request(FileRequest::new("baseline.h264"));
    let t = p.accepted(seq).unwrap().transfer_id;
    let n = p.jobs.len();
    let id = SegmentId::new(t, 3);
    p.platform
        .request_retransmission(p.now, id, Some("corrupted"))
        .unwrap();
    p.drive();
    let again = &p.jobs[n..];
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].header.id(), id);
    assert!(again[0]
        .header
        .flags()
        .contains(SegmentFlags::ERROR_RECOVERY));
    // Completed once, even so.
    assert_eq!(p.platform_finished(t).len(), 1);
    // An unknown segment: 404 back.
    let bogus = SegmentId::new(TransferId::new(1).unwrap(), 0);
    p.platform
        .request_retransmission(p.now, bogus, None)
        .unwrap();
    p.drive();
    assert!(p.platform_events.iter().any(|e| matches!(e,
        PlatformEvent::PeerError(r) if r.error_code == StatusCode::NotFound)));
}

#[test]
fn failed_segments_are_requeued_once_but_not_after_1006() {
    let now = Instant::now();
    let mut p = Pair::established(SessionConfig::default());
    p.hold_segments = true;
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Gop;
    let seq = p.request(r);
    let t = p.accepted(seq).unwrap().transfer_id;
    let _ = now;
    p.client.handle_segment_failed(p.now, t, 0, None);
    p.client
        .handle_segment_failed(p.now, t, 1, Some(StatusCode::StreamTooLong));
    p.drain();
    let resent: Vec<_> = p.jobs.iter().filter(|j| j.index <= 1).collect();
    assert_eq!(resent.len(), 3, "index 0 twice, index 1 once");
    assert!(resent[2]
        .header
        .flags()
        .contains(SegmentFlags::ERROR_RECOVERY));
    // A second failure of index 0 is final.
    p.client.handle_segment_failed(p.now, t, 0, None);
    p.drain();
    assert_eq!(p.jobs.iter().filter(|j| j.index == 0).count(), 2);
}

fn ready_platform(config: SessionConfig) -> (PlatformSession, Instant, TransferId) {
    let mut p = Pair::established(config);
    p.hold_segments = true;
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Frame;
    let seq = p.request(r);
    let t = p.accepted(seq).unwrap().transfer_id;
    (p.platform, p.now, t)
}

fn header(t: TransferId, index: u32, len: u32) -> SegmentHeader {
    SegmentHeader::Video(VideoHeader {
        id: SegmentId::new(t, index),
        timestamp: f64::from(index) / 25.0,
        duration: 0.04,
        frame_count: 1,
        flags: SegmentFlags::empty(),
        data_length: len,
        metadata: None,
    })
}

#[test]
fn platform_verdicts() {
    let config = SessionConfig {
        max_stream_len: 1000,
        unknown_transfer_grace: Duration::from_secs(5),
        ..SessionConfig::default()
    };
    let (mut pf, now, t) = ready_platform(config);
    while pf.poll_action().is_some() {}
    assert_eq!(
        pf.handle_segment_header(now, &header(t, 7, 10)),
        SegmentVerdict::Write {
            transfer: t,
            index: 7,
            len: 10,
            too_long: StatusCode::StreamTooLong,
        }
    );
    // Being written: a second copy is a duplicate.
    assert_eq!(
        pf.handle_segment_header(now, &header(t, 7, 10)),
        SegmentVerdict::Duplicate
    );
    pf.handle_segment_written(now, &header(t, 7, 10), Duration::ZERO);
    assert_eq!(
        pf.handle_segment_header(now, &header(t, 7, 10)),
        SegmentVerdict::Duplicate
    );
    // Out of range.
    assert_eq!(
        pf.handle_segment_header(now, &header(t, 100, 10)),
        SegmentVerdict::Refuse(StatusCode::BadRequest)
    );
    // Too long: 1006 and a report.
    assert_eq!(
        pf.handle_segment_header(now, &header(t, 8, 5000)),
        SegmentVerdict::Refuse(StatusCode::StreamTooLong)
    );
    let mut sent = Vec::new();
    while let Some(a) = pf.poll_action() {
        if let PlatformAction::SendControl(e) = a {
            sent.push(e);
        }
    }
    let codes: Vec<_> = reports(&sent).iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        vec![StatusCode::BadRequest, StatusCode::StreamTooLong]
    );
    // Foreign (v4) ids are appended in arrival order to the receiving transfer
    // (docs/protocol.md D29): index 0 is free; the same id again is the same slot.
    let mut h = header(t, 0, 1);
    if let SegmentHeader::Video(v) = &mut h {
        v.id = SegmentId::from_uuid(Uuid::from_u128(0x1234_5678_9abc_4def_8123_4567_89ab_cdef));
    }
    assert_eq!(
        pf.handle_segment_header(now, &h),
        SegmentVerdict::Write {
            transfer: t,
            index: 0,
            len: u64::from(h.data_length()),
            too_long: StatusCode::StreamTooLong,
        }
    );
    assert_eq!(pf.handle_segment_header(now, &h), SegmentVerdict::Duplicate);
    pf.handle_segment_written(now, &h, Duration::ZERO);
    assert_eq!(pf.transfers()[0].index_ranges, vec![(0, 0), (7, 7)]);
    // Unknown transfer: wait, then refuse after the grace.
    let other = TransferId::new(0xabc).unwrap();
    assert_eq!(
        pf.handle_segment_header(now, &header(other, 0, 1)),
        SegmentVerdict::NotYetKnown
    );
    assert_eq!(pf.poll_timeout(), Some(now + Duration::from_secs(5)));
    let later = now + Duration::from_secs(3);
    assert_eq!(
        pf.handle_segment_header(later, &header(other, 1, 1)),
        SegmentVerdict::NotYetKnown
    );
    let after = now + Duration::from_secs(5);
    pf.handle_timeout(after);
    assert_eq!(
        pf.poll_timeout(),
        None,
        "an expired grace no longer arms the timer"
    );
    assert_eq!(
        pf.handle_segment_header(after, &header(other, 0, 1)),
        SegmentVerdict::Refuse(StatusCode::BadRequest)
    );
}

#[test]
fn corrupted_segment_asks_a_retransmission() {
    let (mut pf, now, t) = ready_platform(SessionConfig::default());
    while pf.poll_action().is_some() {}
    let h = header(t, 5, 10);
    assert!(matches!(
        pf.handle_segment_header(now, &h),
        SegmentVerdict::Write { .. }
    ));
    pf.handle_segment_failed(
        now,
        Some(&h),
        crate::wire::WireError::CorruptedSegment {
            kind: "VideoSegment",
            reason: "short".into(),
        },
    );
    let Some(PlatformAction::SendControl(e)) = pf.poll_action() else {
        panic!()
    };
    let r = &reports(&[e])[0];
    assert_eq!(
        r.retransmission_request().unwrap().segment_id,
        SegmentId::new(t, 5)
    );
    // It can be written again afterwards.
    assert!(matches!(
        pf.handle_segment_header(now, &h),
        SegmentVerdict::Write { .. }
    ));
    // No header at all: a plain report.
    pf.handle_segment_failed(now, None, crate::wire::WireError::UnknownStreamType(9));
    let Some(PlatformAction::SendControl(e)) = pf.poll_action() else {
        panic!()
    };
    assert_eq!(reports(&[e])[0].error_code, StatusCode::BadRequest);
}

#[test]
fn higher_priority_requests_go_first() {
    let config = SessionConfig {
        max_in_flight_segments: 2,
        ..SessionConfig::default()
    };
    let mut p = Pair::established(config);
    p.hold_segments = true;
    let mut low = FileRequest::new("baseline.h264");
    low.priority = 1;
    let mut high = FileRequest::new("data.bin");
    high.priority = 200;
    let a = p.request(low);
    let b = p.request(high);
    let (ta, tb) = (
        p.accepted(a).unwrap().transfer_id,
        p.accepted(b).unwrap().transfer_id,
    );
    let pa = p.jobs_for(ta)[0].priority;
    let pb = p.jobs_for(tb)[0].priority;
    assert!(pb > pa);
    assert_eq!(pb, 128 * 256 + 200);
    let _ = ClientAction::ListFiles {
        request_seq: 0,
        filter: None,
    };
}

#[test]
fn a_lost_segment_is_recovered_by_a_retransmission_request() {
    let mut p = Pair::established(SessionConfig::default());
    p.shuffle = true;
    p.drop_segments = [5, 17].into_iter().collect();
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Frame;
    let seq = p.request(r);
    let t = p.accepted(seq).unwrap().transfer_id;
    assert!(p.platform_finished(t).is_empty(), "a gap remains");
    let st = &p.platform.transfers()[0];
    assert_eq!(st.index_ranges, vec![(0, 4), (6, 16), (18, 99)]);
    assert_eq!(st.received_segments, 98);
    for i in [5, 17] {
        p.platform
            .request_retransmission(p.now, SegmentId::new(t, i), Some("lost"))
            .unwrap();
    }
    p.drive();
    assert_eq!(
        p.platform_finished(t),
        vec![(TransferOutcome::Completed, true)]
    );
    assert_eq!(p.platform.transfers()[0].index_ranges, vec![(0, 99)]);
}

#[test]
fn a_reused_transfer_id_is_refused() {
    let mut p = Pair::established(SessionConfig::default());
    let seq = p.request(FileRequest::new("data.bin"));
    let a = p.accepted(seq).unwrap();
    // A client answering a second request with the same id.
    let seq2 = p
        .platform
        .request_file(p.now, FileRequest::new("data.bin"))
        .unwrap();
    let mut again = a.clone();
    again.ack = seq2;
    let env = JsonEnvelope::wrap(
        &Message::StatusResponse(again.to_status_response()),
        900,
        Timestamp::UNIX_EPOCH,
        Uuid::nil(),
    );
    p.platform.handle_message(p.now, env);
    p.drain();
    assert_eq!(refused(&p, seq2), Some(StatusCode::BadRequest));
    assert_eq!(p.platform.transfers().len(), 1);
    assert_eq!(p.platform_finished(a.transfer_id).len(), 1);
}

#[test]
fn foreign_segment_ids_are_appended_in_arrival_order() {
    let config = SessionConfig {
        max_in_flight_segments: 1,
        ..SessionConfig::default()
    };
    let mut p = Pair::established(config);
    p.foreign_ids = true;
    let mut r = FileRequest::new("baseline.h264");
    r.segment_mode = SegmentMode::Gop;
    let seq = p.request(r);
    let a = p.accepted(seq).unwrap();
    assert_eq!(
        p.platform_finished(a.transfer_id),
        vec![(TransferOutcome::Completed, true)]
    );
    // With no transfer receiving, a foreign id is refused.
    let h = SegmentHeader::Video(VideoHeader {
        id: SegmentId::from_uuid(Uuid::from_u128(0x1111_2222_3333_4444_8555_6666_7777_8888)),
        timestamp: 0.0,
        duration: 0.0,
        frame_count: 0,
        flags: SegmentFlags::empty(),
        data_length: 1,
        metadata: None,
    });
    assert_eq!(
        p.platform.handle_segment_header(p.now, &h),
        SegmentVerdict::Refuse(StatusCode::BadRequest)
    );
}
