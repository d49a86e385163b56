//! Seeks: where sending restarts (keyframes, `seek_type`, `direction`), what happens to
//! what was queued, when the acknowledgement goes, and the platform's expected range.

use super::pair::{videos, Pair};
use super::playback::{ack_of, control, finish_in_flight, flow, held, keyframes, seek};
use crate::session::{SessionConfig, TransferOutcome};
use crate::wire::{
    FileRequest, Message, PlaybackCommand, PlaybackControl, PlaybackState, Seek, SeekDirection,
    SeekRequest, SeekType, SegmentFlags, SegmentMode, TransferId,
};

fn seek_request(p: &mut Pair, t: TransferId, target: f64, ty: SeekType, dir: SeekDirection) -> u64 {
    let req = SeekRequest {
        target_position: target,
        seek_type: ty,
        direction: dir,
        max_seek_time: None,
        transfer_id: Some(t),
    };
    let seq = p
        .platform
        .send_request(p.now, Message::SeekRequest(req))
        .unwrap();
    p.drive();
    seq
}

#[test]
fn seek_restarts_at_the_keyframe_segment_at_or_before_the_target() {
    let kf = keyframes();
    assert_eq!(kf, vec![0, 25, 50, 75]);
    for (target, expect) in [(2.5, 50u32), (1.0, 25), (0.99, 0), (3.96, 75), (0.0, 0)] {
        let (mut p, t) = held(SegmentMode::Frame);
        let n = p.jobs.len();
        let seq = control(&mut p, seek(target));
        finish_in_flight(&mut p);
        let a = ack_of(&p, seq).unwrap();
        assert_eq!(a.start_segment, Some(expect), "target {target}");
        assert_eq!(a.position, f64::from(expect) / 25.0);
        flow(&mut p);
        let after: Vec<u32> = p.jobs[n..].iter().map(|j| j.index).collect();
        assert_eq!(after, (expect..100).collect::<Vec<_>>(), "target {target}");
        // The platform's expected range moved: it completes once.
        let done = p.platform_finished(t);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, TransferOutcome::Completed);
    }
}

/// The acknowledgement of a seek goes once every stream opened before it finished, and
/// before any segment of the new position: nothing queued before the seek is sent after
/// its acknowledgement.
#[test]
fn nothing_queued_before_a_seek_is_sent_after_its_acknowledgement() {
    let (mut p, t) = held(SegmentMode::Frame);
    let queued: Vec<u32> = p.jobs.iter().map(|j| j.index).collect();
    assert_eq!(queued, vec![0, 1, 2, 3]);
    let seq = control(&mut p, seek(2.5));
    assert!(ack_of(&p, seq).is_none(), "4 segments still in flight");
    assert_eq!(p.jobs.len(), 4, "no job issued before the acknowledgement");
    // Two of the four finish: still waiting.
    let rest = p.held.split_off(2);
    finish_in_flight(&mut p);
    assert!(ack_of(&p, seq).is_none());
    p.held = rest;
    finish_in_flight(&mut p);
    let a = ack_of(&p, seq).expect("acknowledged once all four finished");
    assert_eq!(a.start_segment, Some(50));
    assert_eq!(a.late_segments, None);
    // The ack precedes the first post-seek job in the client's output order.
    let ack_at = p
        .to_platform
        .iter()
        .position(|e| e.message().ok().and_then(|m| status_ack(&m)) == Some(seq))
        .unwrap();
    assert!(ack_at > 0);
    let next: Vec<u32> = p.jobs[4..].iter().map(|j| j.index).collect();
    assert_eq!(next, vec![50, 51, 52, 53]);
    flow(&mut p);
    let out = &p.outputs[&t];
    assert_eq!(out.restarts, vec![50]);
    let got: Vec<u32> = out.segments.keys().copied().collect();
    let want: Vec<u32> = (0..4).chain(50..100).collect();
    assert_eq!(got, want);
    let status = p.platform.transfers().into_iter().next().unwrap();
    assert_eq!(status.index_ranges, vec![(0, 3), (50, 99)]);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    let m = &status.media_ranges;
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(close(m[0].0, 0.0) && close(m[0].1, 0.16), "{m:?}");
    assert!(close(m[1].0, 2.0) && close(m[1].1, 4.0), "{m:?}");
}

fn status_ack(m: &Message) -> Option<u64> {
    match m {
        Message::StatusResponse(r) => r.ack(),
        _ => None,
    }
}

#[test]
fn max_seek_time_acknowledges_with_the_segments_still_in_flight() {
    let (mut p, t) = held(SegmentMode::Frame);
    let req = SeekRequest {
        target_position: 2.0,
        seek_type: SeekType::Keyframe,
        direction: SeekDirection::Backward,
        max_seek_time: Some(0.5),
        transfer_id: Some(t),
    };
    let start = p.now;
    let seq = p
        .platform
        .send_request(p.now, Message::SeekRequest(req))
        .unwrap();
    p.drive();
    let a = ack_of(&p, seq).expect("acknowledged at max_seek_time");
    assert_eq!(a.late_segments, Some(4));
    assert!(p.now - start >= std::time::Duration::from_millis(500));
    // Sending goes on at the restart point once the in-flight bound allows.
    assert_eq!(p.jobs.len(), 4);
    finish_in_flight(&mut p);
    assert_eq!(p.jobs[4].index, 50);
}

#[test]
fn resume_after_seek_false_leaves_the_transfer_paused_at_the_restart_point() {
    let (mut p, _t) = held(SegmentMode::Frame);
    let c = PlaybackCommand::Seek(Seek {
        position: 3.0,
        accurate: true,
        resume_after_seek: false,
    });
    let seq = control(&mut p, c);
    flow(&mut p);
    let a = ack_of(&p, seq).unwrap();
    assert_eq!(
        (a.state, a.start_segment),
        (PlaybackState::Paused, Some(75))
    );
    assert_eq!(p.jobs.len(), 4, "nothing sent while paused");
    let seq = control(&mut p, PlaybackCommand::Resume(Default::default()));
    assert_eq!(ack_of(&p, seq).unwrap().position, 3.0);
    p.drive();
    assert_eq!(p.jobs[4].index, 75);
}

#[test]
fn seek_request_directions_and_types() {
    // Keyframes of baseline.h264 at 0, 1, 2, 3 s.
    for (target, ty, dir, expect) in [
        (2.4, SeekType::Keyframe, SeekDirection::Backward, 50),
        (2.4, SeekType::Keyframe, SeekDirection::Forward, 75),
        (2.4, SeekType::Keyframe, SeekDirection::Nearest, 50),
        (2.6, SeekType::Keyframe, SeekDirection::Nearest, 75),
        (2.5, SeekType::Fast, SeekDirection::Nearest, 50),
        (2.6, SeekType::Fast, SeekDirection::Forward, 75),
        (2.6, SeekType::Exact, SeekDirection::Forward, 50),
        (3.0, SeekType::Keyframe, SeekDirection::Forward, 75),
        (3.5, SeekType::Keyframe, SeekDirection::Forward, 100),
    ] {
        let (mut p, t) = held(SegmentMode::Frame);
        let seq = seek_request(&mut p, t, target, ty, dir);
        flow(&mut p);
        let a = ack_of(&p, seq).unwrap();
        assert_eq!(a.start_segment, Some(expect), "{target} {ty:?} {dir:?}");
        assert_eq!(p.platform_finished(t).len(), 1, "{target} {ty:?} {dir:?}");
        if expect == 100 {
            // Forward past the last keyframe: the end, nothing left to send.
            assert_eq!(a.position, 4.0);
            assert_eq!(p.jobs.len(), 4);
        }
    }
}

#[test]
fn seek_request_in_gop_mode() {
    let (mut p, t) = held(SegmentMode::Gop);
    let seq = seek_request(&mut p, t, 3.5, SeekType::Keyframe, SeekDirection::Nearest);
    let n = p.jobs.len();
    flow(&mut p);
    let a = ack_of(&p, seq).unwrap();
    // The segment starting with IDR 75 (3.0 s), whatever GOP size cap applies.
    assert_eq!(a.position, 3.0);
    let first = &p.jobs[n];
    assert_eq!(Some(first.index), a.start_segment);
    assert_eq!(first.header.timestamp(), 3.0);
    assert!(first.header.flags().contains(SegmentFlags::KEYFRAME));
    assert_eq!(p.platform_finished(t).len(), 1);
}

#[test]
fn a_seek_backward_resends_and_the_platform_completes_with_the_whole_file() {
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
    for _ in 0..15 {
        finish_in_flight(&mut p); // 0..63 sent
    }
    let seq = control(&mut p, seek(1.2));
    flow(&mut p);
    assert_eq!(ack_of(&p, seq).unwrap().start_segment, Some(25));
    assert_eq!(
        p.platform_finished(t),
        vec![(TransferOutcome::Completed, true)],
        "25..63 again are duplicates; the file is whole"
    );
}

fn truth(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(videos().join(format!("truth/{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Seeks over a grid of targets on every H.264 test file (frame, GOP and time modes) and
/// on the MP4 (fixed chunks): the restart is the keyframe of the truth files at or before
/// the target (time mode: a segment starting with an IDR at or before it).
#[test]
fn seeks_match_the_truth_keyframes_of_every_test_file() {
    let mut checked = 0;
    for (file, mode) in [
        ("baseline.h264", SegmentMode::Frame),
        ("main_bframes.h264", SegmentMode::Frame),
        ("main_bframes.h264", SegmentMode::Gop),
        ("main_bframes.h264", SegmentMode::Time),
        ("high_slices.h264", SegmentMode::Frame),
        ("novui.h264", SegmentMode::Gop),
        ("aud.h264", SegmentMode::Frame),
        ("av.mp4", SegmentMode::Auto),
    ] {
        let v = truth(file);
        let fps = v["frame_rate"].as_f64().unwrap();
        let frames = v["frames"].as_u64().unwrap();
        let kf: Vec<u64> = (v["keyframe_indices"].as_array().unwrap().iter())
            .map(|k| k.as_u64().unwrap())
            .collect();
        let duration = frames as f64 / fps;
        let config = SessionConfig {
            max_in_flight_segments: 1,
            ..SessionConfig::default()
        };
        let mut p = Pair::established(config);
        p.hold_segments = true;
        let mut r = FileRequest::new(file);
        r.segment_mode = mode;
        let seq = p.request(r);
        let a = p.accepted(seq).unwrap();
        let mut t = 0.0;
        while t < duration {
            let frame = (t * fps + 1e-9).floor() as u64;
            let k = *kf.iter().filter(|&&k| k <= frame).max().unwrap();
            let seq = p
                .platform
                .playback(p.now, PlaybackControl::new(seek(t)))
                .unwrap();
            // The segments in flight when the seek arrives finish first.
            for _ in 0..3 {
                if ack_of(&p, seq).is_none() {
                    finish_in_flight(&mut p);
                }
            }
            let ack = ack_of(&p, seq).unwrap_or_else(|| panic!("{file} seek {t}"));
            let start = ack.start_segment.unwrap();
            let first = p.jobs.last().unwrap();
            assert_eq!(first.index, start, "{file} seek {t}");
            if a.segment_mode == SegmentMode::Fixed {
                let offsets: Vec<u64> = (v["keyframe_byte_offsets"].as_array().unwrap())
                    .iter()
                    .map(|o| o.as_u64().unwrap())
                    .collect();
                let pos = kf.iter().position(|&x| x == k).unwrap();
                let size = a.segment_size.unwrap();
                assert_eq!(u64::from(start), offsets[pos] / size, "{file} seek {t}");
            } else if mode == SegmentMode::Time {
                assert!(first.header.flags().contains(SegmentFlags::KEYFRAME));
                assert!(ack.position <= k as f64 / fps + 1e-6, "{file} seek {t}");
            } else {
                let want = k as f64 / fps;
                assert!(
                    (ack.position - want).abs() < 1e-6,
                    "{file} {mode:?} seek {t}: {} vs {want}",
                    ack.position
                );
                assert!(first.header.flags().contains(SegmentFlags::KEYFRAME));
                if mode == SegmentMode::Frame {
                    assert_eq!(u64::from(start), k, "{file} seek {t}");
                }
            }
            checked += 1;
            t += 0.37;
        }
    }
    assert!(checked > 80, "{checked}");
}
